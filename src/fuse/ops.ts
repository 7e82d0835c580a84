// The FUSE requests: each decoded (protocol.ts), answered by the vfs for the
// caller the request names, and encoded back; the node table turns node ids
// into paths and back. Anything unexpected is logged with its context and
// answered as EIO. No /dev/fuse here: the session reads requests and writes
// what this answers.
import { ERRNO, errnoCodeOf, NsfsError, type ErrnoCode } from '../errors.js'
import type { Logger } from '../log.js'
import type { View } from '../model/access.js'
import type { TreeChange } from '../model/tree-change.js'
import { HandleTable } from '../vfs/handle-table.js'
import { isDir, S_IFDIR, type Attr, type DirEntry as VfsDirEntry, type DirListing, type Entry, type Requester, type Vfs } from '../vfs/vfs.js'
import { DirCaches, type CacheTicket } from './dir-cache.js'
import { KernelCache } from './kernel-cache.js'
import { NodeTable, ROOT_ID } from './inodes.js'
import {
  attrOut, direntSize, entryOut, FATTR_SIZE, FOPEN_DIRECT_IO, invalInode, OP, openOut, packDirents, readBatchForgetIn, readForgetIn, readName,
  readOpenIn, readReadIn, readReleaseIn, readRenameIn, readSetattrIn, RENAME_NOREPLACE, statfsOut,
  type DirEntry, type Entry as FuseEntry, type FuseAttr, type InHeader,
} from './protocol.js'

// What the kernel gets back: a reply (errno 0 with an optional body, or an
// errno), or nothing (FORGET, INTERRUPT).
export type Answer =
  | { readonly kind: 'ok', readonly body?: Buffer }
  | { readonly kind: 'error', readonly errno: number }
  | { readonly kind: 'none' }

const OK: Answer = { kind: 'ok' }
const NONE: Answer = { kind: 'none' }
function fail (code: ErrnoCode): Answer {
  return { kind: 'error', errno: ERRNO[code] }
}
function ok (body: Buffer): Answer {
  return { kind: 'ok', body }
}

// One listing, fixed at opendir for its caller, so offsets stay meaningful
// across the READDIR calls of one listing: `.` and `..`, then `entries`.
interface Listing {
  readonly dir: bigint
  readonly entries: DirListing
  // When its replies fill the kernel's copy of the listing (dir-cache.ts).
  readonly ticket: CacheTicket | undefined
  // Whether its first READDIR began at the start.
  fromStart: boolean
}

const DOTS = ['.', '..']

// `ls -l` reads an entry's target right after listing it, in listing
// order: where the caller's readlinks are in the last listing opened, and
// the one expected next.
interface ReadingOrder {
  readonly listing: Listing
  // The view of the last readlink.
  view: View
  // Index in listing.entries.names of the entry after the last one read.
  next: number
  // Whether the entry at `next` (or a link just after it) awaits its check.
  due: boolean
}

// How far ahead of the last readlink the next one is looked for (other
// kinds of entries come between: directories, the metadata file).
const LOOK_AHEAD = 4

const S_IFMT = 0o170000
const EMPTY_ATTR: FuseAttr = { ino: 0n, size: 0, mode: 0, nlink: 0, uid: 0, gid: 0, timeMs: 0 }

export class FuseOps {
  readonly nodes: NodeTable
  private readonly listings = new HandleTable<Listing>()
  private readonly cache: KernelCache
  private readonly dirCaches = new DirCaches()
  private reading: ReadingOrder | undefined

  constructor (private readonly vfs: Vfs, private readonly log: Logger) {
    this.nodes = new NodeTable(vfs.rootIdentity)
    this.cache = new KernelCache(this.nodes, id => this.vfs.nodeAt(this.pathOf(id)))
  }

  // Answers one request (its header and the bytes after it).
  handle (h: InHeader, args: Buffer): Answer {
    try {
      return this.dispatch(h, args)
    } catch (err) {
      const code = errnoCodeOf(err)
      if (!(err instanceof NsfsError)) {
        this.log('error', `FUSE opcode ${h.opcode} on node ${h.nodeid} for pid ${h.pid}: unexpected ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
      }
      return fail(code)
    }
  }

  // The kernel caches of the tree after `change`, as notifications.
  invalidations (change: TreeChange): Buffer[] {
    const out = this.cache.invalidations(change)
    const dirs = change.kind === 'whole'
      ? this.dirCaches.changedAll()
      : change.dirs.map(c => this.nodes.idOf(`d:${c.dir}`)).filter((id): id is bigint => id !== undefined && this.dirCaches.changed(id))
    for (const id of dirs) out.push(invalInode(id))
    return out
  }

  private dispatch (h: InHeader, args: Buffer): Answer {
    switch (h.opcode) {
      case OP.FORGET:
        this.forget(h.nodeid, readForgetIn(args))
        return NONE
      case OP.BATCH_FORGET:
        for (const f of readBatchForgetIn(args)) this.forget(f.nodeid, f.nlookup)
        return NONE
      case OP.INTERRUPT:
        // Every answer is given at once: nothing is left to interrupt.
        return NONE
      case OP.FLUSH:
      case OP.DESTROY:
        return OK
      case OP.READ: {
        const r = readReadIn(args)
        return ok(this.vfs.read(r.fh, r.size, r.offset))
      }
      case OP.RELEASE:
        this.vfs.release(readReleaseIn(args).fh)
        return OK
      case OP.READDIR:
      case OP.READDIRPLUS: {
        const r = readReadIn(args)
        return ok(this.readdir(r.fh, r.offset, r.size, h.opcode === OP.READDIRPLUS))
      }
      case OP.RELEASEDIR: {
        const fh = readReleaseIn(args).fh
        const listing = this.listings.get(fh)
        // Its reader is done; and the listing holds the tree it was made of.
        if (this.reading !== undefined && this.reading.listing === listing) this.reading = undefined
        if (listing?.ticket !== undefined) this.dirCaches.released(listing.ticket)
        this.listings.release(fh)
        return OK
      }
      case OP.SETATTR:
        // Truncating is writing; chmod, chown and utimens change what the
        // kernel decides.
        return fail((readSetattrIn(args).valid & FATTR_SIZE) !== 0 ? 'EROFS' : 'EPERM')
      // Nothing can be created, removed or written, only renamed.
      case OP.SYMLINK:
      case OP.MKNOD:
      case OP.MKDIR:
      case OP.UNLINK:
      case OP.RMDIR:
      case OP.LINK:
      case OP.CREATE:
      case OP.TMPFILE:
      case OP.WRITE:
      case OP.FALLOCATE:
      case OP.SETXATTR:
      case OP.REMOVEXATTR:
        return fail('EROFS')
      case OP.LOOKUP:
      case OP.GETATTR:
      case OP.READLINK:
      case OP.OPEN:
      case OP.OPENDIR:
      case OP.STATFS:
      case OP.RENAME:
      case OP.RENAME2:
        return this.forCaller(h, args, this.vfs.view(requester(h)))
      default:
        // GETXATTR and LISTXATTR among others: ENOSYS makes the kernel stop
        // asking, and answer for us from then on (EOPNOTSUPP for xattrs).
        return fail('ENOSYS')
    }
  }

  // The requests answered as their caller may see the tree.
  private forCaller (h: InHeader, args: Buffer, view: View): Answer {
    switch (h.opcode) {
      case OP.LOOKUP: {
        const dir = this.dirEntry(h.nodeid, view)
        return ok(entryOut(this.remember(h.nodeid, this.vfs.child(dir, readName(args, 0).name, view))))
      }
      case OP.GETATTR: {
        const entry = this.entry(h.nodeid, view)
        return ok(attrOut(this.attrOf(h.nodeid, entry), this.vfs.cacheTimes(entry).attr))
      }
      case OP.READLINK: {
        const target = this.vfs.readlink(this.entry(h.nodeid, view), view)
        this.followReading(h.nodeid, view)
        return ok(Buffer.from(target))
      }
      case OP.OPEN:
        // Rendered once per open; direct_io, so a size the kernel cached
        // never cuts a read short.
        return ok(openOut(this.vfs.open(this.entry(h.nodeid, view), readOpenIn(args).flags, view), FOPEN_DIRECT_IO))
      case OP.OPENDIR: {
        const dir = this.dirEntry(h.nodeid, view)
        const entries = this.vfs.list(dir, view)
        // A namespace's directory lists the same for every privileged caller.
        const { flags, ticket } = this.dirCaches.opened(h.nodeid, dir.kind === 'dir' && view.privileged)
        const listing: Listing = { dir: h.nodeid, entries, ticket, fromStart: false }
        this.reading = { listing, view, next: 0, due: false }
        return ok(openOut(this.listings.add(listing), flags))
      }
      case OP.STATFS:
        return ok(statfsOut(this.vfs.statfs(view)))
      case OP.RENAME:
      case OP.RENAME2:
        return this.rename(h.nodeid, args, h.opcode === OP.RENAME2, view)
    }
    throw new NsfsError('ENOSYS', `opcode ${h.opcode} is not answered for callers`)
  }

  // While the device is idle between requests of a caller walking the
  // tree: the check of the readlink expected next.
  idle (): void {
    const r = this.reading
    if (r?.due !== true) return
    r.due = false
    const { names } = r.listing.entries
    for (let i = r.next; i < names.length && i < r.next + LOOK_AHEAD; i++) {
      let entry: Entry
      try {
        entry = r.listing.entries.entry(i)
      } catch {
        // Gone since the listing: its readlink will say so.
        continue
      }
      if (entry.kind === 'link') return this.vfs.readAhead(entry, r.view)
    }
  }

  // Node `id` was read as a link: if it is in the last listing at or just
  // after where the caller was, the next link there is due for its check.
  private followReading (id: bigint, view: View): void {
    const r = this.reading
    const node = this.nodes.get(id)
    if (r === undefined || node === undefined || r.listing.dir !== node.parent) return
    const { names } = r.listing.entries
    for (let i = r.next; i < names.length && i < r.next + LOOK_AHEAD; i++) {
      if (names[i] === node.name) {
        r.next = i + 1
        r.due = true
        r.view = view
        return
      }
    }
  }

  // The path of a node in the current tree, as the kernel last named it.
  pathOf (id: bigint): string {
    const parts: string[] = []
    for (let node = this.nodes.get(id); node !== undefined && node.id !== ROOT_ID; node = this.nodes.get(node.parent)) parts.push(node.name)
    if (id !== ROOT_ID && this.nodes.get(id) === undefined) throw new NsfsError('ENOENT', `unknown FUSE node ${id}`)
    return `/${parts.reverse().join('/')}`
  }

  // What node `id` stands for, as the caller may see it; ENOENT once its
  // path no longer leads to it (or to anything the caller may see).
  private entry (id: bigint, view: View): Entry {
    const known = this.nodes.get(id)
    if (known === undefined) throw new NsfsError('ENOENT', `unknown FUSE node ${id}`)
    return this.vfs.resolve(this.pathOf(id), view, id === ROOT_ID ? undefined : known.identity as Entry['identity'])
  }

  private dirEntry (id: bigint, view: View): VfsDirEntry {
    const entry = this.entry(id, view)
    if (!isDir(entry)) throw new NsfsError('ENOTDIR', 'not a directory', { path: entry.path })
    return entry
  }

  // One more lookup of `entry` in directory node `parent`: its node, with
  // the attributes and times the kernel may keep.
  private remember (parent: bigint, entry: Entry): FuseEntry {
    const id = this.nodes.remember(entry.identity, parent, entry.path.slice(entry.path.lastIndexOf('/') + 1))
    const times = this.vfs.cacheTimes(entry)
    return { nodeid: id, attr: this.attrOf(id, entry), entryValid: times.entry, attrValid: times.attr }
  }

  // The attributes as the kernel gets them, noting what they were made of.
  private attrOf (id: bigint, entry: Entry): FuseAttr {
    const a: Attr = this.vfs.attr(entry)
    if (entry.kind === 'dir' || entry.kind === 'link') this.cache.answered(id, entry.node)
    return { ino: id, size: a.size, mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, timeMs: a.timeMs }
  }

  private forget (id: bigint, nlookup: number): void {
    this.nodes.forget(id, nlookup)
    if (this.nodes.get(id) === undefined) {
      this.cache.forgotten(id)
      this.dirCaches.forgotten(id)
    }
  }

  private readdir (fh: number, offset: number, size: number, plus: boolean): Buffer {
    const listing = this.listings.get(fh)
    if (listing === undefined) throw new NsfsError('EBADF', 'no such open directory')
    const out: DirEntry[] = []
    // About what fits in `size`; the rest waits for the next call.
    let budget = size
    const { names } = listing.entries
    for (let i = offset; i < DOTS.length + names.length && budget > 0; i++) {
      const j = i - DOTS.length
      const name = j < 0 ? DOTS[i] as string : names[j] as string
      out.push(this.dirent(listing.dir, name, j < 0 ? undefined : listing.entries.entry(j), plus))
      budget -= direntSize(name, plus)
    }
    const packed = packDirents(out, offset, size, plus)
    if (offset === 0) listing.fromStart = true
    if (plus && listing.fromStart && listing.ticket !== undefined && offset + packed.count >= DOTS.length + names.length) this.dirCaches.sentWhole(listing.ticket)
    // READDIRPLUS entries that did not fit were not handed to the kernel.
    for (const e of out.slice(packed.count)) {
      if (e.entry !== undefined && e.entry.nodeid !== 0n) this.forget(e.entry.nodeid, 1)
    }
    return packed.buf
  }

  private dirent (dir: bigint, name: string, entry: Entry | undefined, plus: boolean): DirEntry {
    if (entry === undefined) return { name, ino: dir, type: S_IFDIR >> 12 }
    const type = (this.vfs.attr(entry).mode & S_IFMT) >> 12
    if (!plus) return { name, ino: this.nodes.idOf(entry.identity) ?? ROOT_ID, type }
    // Gone since opendir: listed without a node (the kernel links none),
    // and a later lookup hears ENOENT.
    if (!this.vfs.stands(entry)) {
      return { name, ino: ROOT_ID, type: 0, entry: { nodeid: 0n, attr: EMPTY_ATTR, entryValid: 0, attrValid: 0 } }
    }
    const fe = this.remember(dir, entry)
    return { name, ino: fe.nodeid, type, entry: fe }
  }

  private rename (dir: bigint, args: Buffer, withFlags: boolean, view: View): Answer {
    const r = readRenameIn(args, withFlags)
    // RENAME_EXCHANGE and RENAME_WHITEOUT swap or leave behind entries;
    // neither means anything here. NOREPLACE is what every rename does.
    if ((r.flags & ~RENAME_NOREPLACE) !== 0) return fail('EINVAL')
    const join = (d: string, n: string): string => d === '/' ? `/${n}` : `${d}/${n}`
    this.vfs.rename(join(this.pathOf(dir), r.from), join(this.pathOf(r.newDir), r.to), view)
    // The kernel moved its own entries and marked both directories
    // changed; its copies of their listings are not handed out again.
    this.dirCaches.changed(dir)
    this.dirCaches.changed(r.newDir)
    const moved = this.nodes.childrenIn(dir).get(r.from)
    if (moved !== undefined) this.nodes.moved(moved, r.newDir, r.to)
    return OK
  }
}

function requester (h: InHeader): Requester {
  return { uid: h.uid, gid: h.gid, pid: h.pid }
}
