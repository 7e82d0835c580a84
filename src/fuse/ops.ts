// The FUSE requests, answered from the vfs: each names its node by id, which
// the node table turns into a path in the current tree; each answer or
// error becomes the reply the kernel expects. Anything unexpected is logged
// with its context and answered as EIO. No /dev/fuse here: the session
// (session.ts) reads requests and writes what this answers.
import path from 'node:path'
import { ERRNO, errnoCodeOf, NsfsError, type ErrnoCode } from '../errors.js'
import type { Logger } from '../log.js'
import type { TreeChange } from '../model/tree-change.js'
import { METADATA_FILE } from '../model/metadata.js'
import { holderPath, nsKey, type Holder, type NsType } from '../model/namespace.js'
import { lookup, type DirNode, type Node, type Tree } from '../model/tree-node.js'
import { HandleTable } from '../vfs/handle-table.js'
import { attrOfNode, nlinkOf, S_IFDIR, S_IFLNK, S_IFREG, type Attr, type Vfs } from '../vfs/vfs.js'
import { NodeTable, ROOT_ID, type KnownNode } from './inodes.js'
import {
  attrOut, direntSize, entryOut, FATTR_SIZE, FOPEN_DIRECT_IO, invalEntry, invalInode, OP, openOut, packDirents, readName, readReadIn,
  RENAME_NOREPLACE, statfsOut, type DirEntry, type Entry, type FuseAttr, type InHeader,
} from './protocol.js'

export interface CacheTimes {
  // Seconds the kernel may keep names, attributes and symlink targets.
  // Changes are pushed to it as invalidations, so this only bounds how
  // long a missed one could last.
  readonly seconds: number
}

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

// What a node stands for, whatever its name: a namespace's directory
// (`d:`), a namespace's handle (`l:`), a directory's metadata file (`m:`).
function identityOf (node: Node): string {
  return `${node.kind === 'dir' ? 'd' : 'l'}:${nsKey(node.ns)}`
}

interface DirSnapshot {
  readonly dir: bigint
  readonly path: string
  readonly names: readonly string[]
}

export class FuseOps {
  readonly nodes: NodeTable
  private readonly dirs = new HandleTable<DirSnapshot>()
  // What each handle's answers came from: its namespace's first holder
  // (the size in its attributes) and the holder behind the target the
  // kernel may have cached. Either gone, the kernel must ask again.
  private readonly shown = new Map<bigint, { first?: string, target?: string }>()
  // Each directory's link count as last answered: it changes with its
  // subdirectories.
  private readonly nlinks = new Map<bigint, number>()

  constructor (
    private readonly vfs: Vfs,
    private readonly tree: () => Tree,
    private readonly log: Logger,
    private readonly cache: CacheTimes,
  ) {
    this.nodes = new NodeTable(identityOf(tree().root))
  }

  // Answers one request (its header and the bytes after it).
  handle (h: InHeader, args: Buffer): Answer {
    try {
      return this.dispatch(h, args)
    } catch (err) {
      const code = errnoCodeOf(err)
      if (!(err instanceof NsfsError)) {
        this.log('error', `FUSE opcode ${h.opcode} on node ${h.nodeid}: unexpected ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
      }
      return fail(code)
    }
  }

  private dispatch (h: InHeader, args: Buffer): Answer {
    switch (h.opcode) {
      case OP.LOOKUP: return { kind: 'ok', body: entryOut(this.lookup(h.nodeid, readName(args, 0).name)) }
      case OP.FORGET:
        this.forget(h.nodeid, Number(args.readBigUInt64LE(0)))
        return NONE
      case OP.BATCH_FORGET: {
        const count = args.readUInt32LE(0)
        for (let i = 0; i < count; i++) this.forget(args.readBigUInt64LE(8 + i * 16), Number(args.readBigUInt64LE(16 + i * 16)))
        return NONE
      }
      case OP.GETATTR: {
        const { path: p, node } = this.resolve(h.nodeid)
        const attr = node !== undefined ? attrOfNode(node) : this.vfs.getattr(p)
        return { kind: 'ok', body: attrOut(this.attrOf(h.nodeid, attr, node), this.validFor(p)) }
      }
      case OP.READLINK: {
        const { path: p, node } = this.resolve(h.nodeid)
        const target = this.vfs.readlink(p)
        const holder = node?.ns.holders.find(x => holderPath(x, node.ns.type) === target)
        if (node !== undefined && holder !== undefined) this.showing(h.nodeid).target = holderSig(holder, node.ns.type)
        return { kind: 'ok', body: Buffer.from(target) }
      }
      case OP.OPEN: {
        const fh = this.vfs.open(this.pathOf(h.nodeid), args.readUInt32LE(0))
        // Rendered once per open; direct_io, so a size the kernel cached
        // never cuts a read short.
        return { kind: 'ok', body: openOut(fh, FOPEN_DIRECT_IO) }
      }
      case OP.READ: {
        const r = readReadIn(args)
        return { kind: 'ok', body: this.vfs.read(this.pathOf(h.nodeid), r.fh, r.size, r.offset) }
      }
      case OP.RELEASE:
        this.vfs.release(Number(args.readBigUInt64LE(0)))
        return OK
      case OP.OPENDIR: return { kind: 'ok', body: openOut(this.opendir(h.nodeid), 0) }
      case OP.READDIR:
      case OP.READDIRPLUS: {
        const r = readReadIn(args)
        return { kind: 'ok', body: this.readdir(r.fh, r.offset, r.size, h.opcode === OP.READDIRPLUS) }
      }
      case OP.RELEASEDIR:
        this.dirs.release(Number(args.readBigUInt64LE(0)))
        return OK
      case OP.STATFS: {
        const s = this.vfs.statfs()
        return { kind: 'ok', body: statfsOut({ ...s, namelen: s.namemax }) }
      }
      case OP.RENAME: return this.rename(h.nodeid, args.readBigUInt64LE(0), 0, args, 8)
      case OP.RENAME2: return this.rename(h.nodeid, args.readBigUInt64LE(0), args.readUInt32LE(8), args, 16)
      case OP.SETATTR:
        // Truncating is writing; chmod, chown and utimens change what the
        // kernel decides.
        return fail((args.readUInt32LE(0) & FATTR_SIZE) !== 0 ? 'EROFS' : 'EPERM')
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
      case OP.FLUSH:
        return OK
      case OP.INTERRUPT:
        // Every answer is given at once: nothing is left to interrupt.
        return NONE
      case OP.DESTROY:
        return OK
      default:
        // GETXATTR and LISTXATTR among others: ENOSYS makes the kernel stop
        // asking, and answer for us from then on (EOPNOTSUPP for xattrs).
        return fail('ENOSYS')
    }
  }

  private validFor (p: string): number {
    // A metadata file's size changes with every rendering.
    return path.posix.basename(p) === METADATA_FILE ? 0 : this.cache.seconds
  }

  // The path of a node in the current tree; ENOENT once it no longer leads
  // to what the node stands for.
  pathOf (id: bigint): string {
    return this.resolve(id).path
  }

  // The node's path, and what is there in the current tree (nothing for a
  // metadata file); ENOENT once it no longer leads to what the node stands
  // for.
  private resolve (id: bigint): { path: string, node: Node | undefined } {
    const parts: string[] = []
    let node = this.known(id)
    while (node.id !== ROOT_ID) {
      parts.push(node.name)
      node = this.known(node.parent)
    }
    const p = `/${parts.reverse().join('/')}`
    if (id === ROOT_ID) return { path: p, node: this.tree().root }
    const now = this.at(p)
    if (now.identity !== this.known(id).identity) throw new NsfsError('ENOENT', 'no such namespace entry', { path: p })
    return { path: p, node: now.node }
  }

  private known (id: bigint): KnownNode {
    const node = this.nodes.get(id)
    if (node === undefined) throw new NsfsError('ENOENT', `unknown FUSE node ${id}`)
    return node
  }

  // What `p` leads to in the current tree, as a node identity, and the
  // tree node (none for a metadata file).
  private at (p: string): { identity: string | undefined, node: Node | undefined } {
    const tree = this.tree()
    if (path.posix.basename(p) === METADATA_FILE) {
      const dir = lookup(tree, path.posix.dirname(p))
      return { identity: dir?.kind === 'dir' ? `m:${nsKey(dir.ns)}` : undefined, node: undefined }
    }
    const node = lookup(tree, p)
    return { identity: node === undefined ? undefined : identityOf(node), node }
  }

  // The entry `name` in the directory `parent` (at `parentPath`, which is
  // `dir` in the current tree when the caller has it at hand).
  private entry (parent: bigint, parentPath: string, name: string, dir?: DirNode): Entry {
    const p = path.posix.join(parentPath, name)
    let attr: Attr
    let identity: string | undefined
    let node: Node | undefined
    if (name === METADATA_FILE) {
      attr = this.vfs.getattr(p)
      identity = this.at(p).identity
    } else {
      node = dir !== undefined ? dir.entries.get(name) : lookup(this.tree(), p)
      if (node === undefined) throw new NsfsError('ENOENT', 'no such namespace entry', { path: p })
      attr = attrOfNode(node)
      identity = identityOf(node)
    }
    if (identity === undefined) throw new NsfsError('ENOENT', 'no such namespace entry', { path: p })
    const id = this.nodes.remember(identity, parent, name)
    const valid = this.validFor(p)
    return { nodeid: id, attr: this.attrOf(id, attr, node), entryValid: valid, attrValid: valid }
  }

  private lookup (parent: bigint, name: string): Entry {
    return this.entry(parent, this.pathOf(parent), name)
  }

  // The attributes as the kernel gets them, noting what they were made of.
  private attrOf (id: bigint, a: Attr, node: Node | undefined): FuseAttr {
    if (node?.kind === 'dir') this.nlinks.set(id, a.nlink)
    if (node?.kind === 'link') {
      const first = node.ns.holders[0]
      if (first !== undefined) this.showing(id).first = holderSig(first, node.ns.type)
    }
    return { ino: id, size: a.size, mode: a.mode, nlink: a.nlink, uid: a.uid, gid: a.gid, timeMs: a.mtime.getTime() }
  }

  private forget (id: bigint, nlookup: number): void {
    this.nodes.forget(id, nlookup)
    if (this.nodes.get(id) !== undefined) return
    this.shown.delete(id)
    this.nlinks.delete(id)
  }

  private showing (id: bigint): { first?: string, target?: string } {
    let s = this.shown.get(id)
    if (s === undefined) {
      s = {}
      this.shown.set(id, s)
    }
    return s
  }

  // The listing is fixed at opendir, so offsets stay meaningful across the
  // READDIR calls of one listing.
  private opendir (id: bigint): number {
    const p = this.pathOf(id)
    return this.dirs.add({ dir: id, path: p, names: ['.', '..', ...this.vfs.readdir(p)] })
  }

  private readdir (fh: number, offset: number, size: number, plus: boolean): Buffer {
    const snap = this.dirs.get(fh)
    if (snap === undefined) throw new NsfsError('EBADF', 'no such open directory')
    const entries: DirEntry[] = []
    const dir = this.dirAt(snap.dir)
    // About what fits in `size`; the rest waits for the next call.
    let budget = size
    for (let i = offset; i < snap.names.length && budget > 0; i++) {
      const name = snap.names[i] as string
      entries.push(this.dirent(snap, name, plus, dir))
      budget -= direntSize(name, plus)
    }
    const packed = packDirents(entries, offset, size, plus)
    // READDIRPLUS entries that did not fit were not handed to the kernel.
    for (const e of entries.slice(packed.count)) {
      if (e.entry !== undefined && e.entry.nodeid !== 0n) this.forget(e.entry.nodeid, 1)
    }
    return packed.buf
  }

  private dirent (snap: DirSnapshot, name: string, plus: boolean, dir: DirNode | undefined): DirEntry {
    if (name === '.' || name === '..') return { name, ino: snap.dir, type: S_IFDIR >> 12 }
    if (!plus) {
      if (name === METADATA_FILE) {
        const id = dir === undefined ? undefined : this.nodes.idOf(`m:${nsKey(dir.ns)}`)
        return { name, ino: id ?? ROOT_ID, type: S_IFREG >> 12 }
      }
      const node = dir?.entries.get(name)
      const id = node === undefined ? undefined : this.nodes.idOf(identityOf(node))
      return { name, ino: id ?? ROOT_ID, type: (node?.kind === 'dir' ? S_IFDIR : S_IFLNK) >> 12 }
    }
    try {
      if (dir === undefined) throw new NsfsError('ENOENT', 'the directory is gone', { path: snap.path })
      const entry = this.entry(snap.dir, snap.path, name, dir)
      return { name, ino: entry.nodeid, type: (entry.attr.mode & S_IFMT) >> 12, entry }
    } catch (err) {
      // Gone since opendir: listed without a node (the kernel links none),
      // and a later lookup hears ENOENT.
      if (errnoCodeOf(err) !== 'ENOENT') throw err
      return { name, ino: ROOT_ID, type: 0, entry: { nodeid: 0n, attr: EMPTY_ATTR, entryValid: 0, attrValid: 0 } }
    }
  }

  private rename (dir: bigint, newDir: bigint, flags: number, args: Buffer, at: number): Answer {
    // RENAME_EXCHANGE and RENAME_WHITEOUT swap or leave behind entries;
    // neither means anything here. NOREPLACE is what every rename does.
    if ((flags & ~RENAME_NOREPLACE) !== 0) return fail('EINVAL')
    const from = readName(args, at)
    const to = readName(args, from.next)
    const srcDir = this.pathOf(dir)
    const destDir = this.pathOf(newDir)
    this.vfs.rename(path.posix.join(srcDir, from.name), path.posix.join(destDir, to.name))
    const moved = this.nodes.childrenIn(dir).get(from.name)
    if (moved !== undefined) this.nodes.moved(moved, newDir, to.name)
    return OK
  }

  // The notifications that bring the kernel's caches in line with the
  // tree after `change`: names that lead elsewhere now or nowhere, handles
  // whose holder went, directories whose link count changed.
  invalidations (change: TreeChange): Buffer[] {
    const out: Buffer[] = []
    switch (change.kind) {
      case 'whole':
        this.nlinkCheck(ROOT_ID, this.tree().root, out)
        for (const parentId of [...this.nodes.parents()]) {
          const dir = this.dirAt(parentId)
          for (const [name, child] of this.nodes.childrenIn(parentId)) this.check(parentId, dir, name, child, out)
        }
        break
      case 'dirs':
        for (const c of change.dirs) {
          const dirId = this.nodes.idOf(`d:${c.dir}`)
          // Nothing in a directory the kernel never looked up is cached.
          if (dirId === undefined) continue
          const dir = this.dirAt(dirId)
          if (dir !== undefined) this.nlinkCheck(dirId, dir, out)
          const known = this.nodes.childrenIn(dirId)
          for (const names of [c.removed, c.changed, c.added]) {
            for (const name of names) {
              const child = known.get(name)
              if (child !== undefined) this.check(dirId, dir, name, child, out)
            }
          }
        }
        break
    }
    return out
  }

  // One name the kernel may have cached in `parentId` (`dir` now).
  private check (parentId: bigint, dir: DirNode | undefined, name: string, child: KnownNode, out: Buffer[]): void {
    const now = name === METADATA_FILE ? undefined : dir?.entries.get(name)
    if (dir === undefined || (name !== METADATA_FILE && (now === undefined || identityOf(now) !== child.identity))) {
      // The kernel drops the name; the node lives on until it forgets it.
      this.nodes.unname(child)
      out.push(invalEntry(parentId, name))
      return
    }
    if (now === undefined) return
    if (now.kind === 'dir') {
      this.nlinkCheck(child.id, now, out)
      return
    }
    const shown = this.shown.get(child.id)
    if (shown === undefined) return
    const first = now.ns.holders[0]
    const firstGone = shown.first !== undefined && (first === undefined || holderSig(first, now.ns.type) !== shown.first)
    const targetGone = shown.target !== undefined && !now.ns.holders.some(h => holderSig(h, now.ns.type) === shown.target)
    if (firstGone || targetGone) {
      this.shown.delete(child.id)
      out.push(invalInode(child.id))
    }
  }

  private nlinkCheck (id: bigint, dir: DirNode, out: Buffer[]): void {
    const was = this.nlinks.get(id)
    if (was !== undefined && was !== nlinkOf(dir)) {
      this.nlinks.delete(id)
      out.push(invalInode(id))
    }
  }

  private dirAt (id: bigint): DirNode | undefined {
    try {
      const node = this.resolve(id).node
      return node?.kind === 'dir' ? node : undefined
    } catch {
      return undefined
    }
  }
}

const S_IFMT = 0o170000
const EMPTY_ATTR: FuseAttr = { ino: 0n, size: 0, mode: 0, nlink: 0, uid: 0, gid: 0, timeMs: 0 }

// A holder as the path it opens through and the start time of its task.
function holderSig (h: Holder, type: NsType): string {
  return `${h.start} ${holderPath(h, type)}`
}
