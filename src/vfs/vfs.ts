// A filesystem over the current tree, for one caller at a time: everything
// the FUSE layer asks, answered from the model as that caller may see it
// (model/access.ts), failing with NsfsError. Each path is classified once
// into a typed entry. No FUSE and no root needed to test it.
import { NsfsError } from '../errors.js'
import type { View } from '../model/access.js'
import { CONTAINERS_DIR, CONTAINER_LINKS, NO_CONTAINERS, type Container, type ContainerSet } from '../model/containers.js'
import { METADATA_FILE, pathOf } from '../model/metadata.js'
import { holderPath, isNsType, nsKey, type Holder, type Namespace, type NsKey, type NsType } from '../model/namespace.js'
import { planRename, type RenamePlan } from '../model/overlay.js'
import { lookup, SELF_ENTRY, type DirNode, type LinkNode, type Node, type Tree } from '../model/tree-node.js'
import { HandleTable } from './handle-table.js'
import { lastRenderedSize, renderMetadata } from './metadata.js'

export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000
export const S_IFREG = 0o100000

// Who makes a request, as the FUSE header says: its uid and gid, and its
// thread id (in the daemon's pid namespace; 0 when it has none there).
export interface Requester {
  readonly uid: number
  readonly gid: number
  readonly pid: number
}

// What a node stands for, whatever its name: a namespace's directory, a
// namespace's handle, a directory's metadata file; `c:…` the containers
// directory, a container's directory and its links.
export type Identity = `d:${NsKey}` | `l:${NsKey}` | `m:${NsKey}` | `c:${string}`

export type Entry =
  | { readonly kind: 'dir', readonly identity: Identity, readonly path: string, readonly node: DirNode }
  | { readonly kind: 'link', readonly identity: Identity, readonly path: string, readonly node: LinkNode }
  | { readonly kind: 'meta', readonly identity: Identity, readonly path: string, readonly dir: DirNode }
  | { readonly kind: 'containers', readonly identity: Identity, readonly path: string }
  | { readonly kind: 'container', readonly identity: Identity, readonly path: string, readonly container: Container }
  | { readonly kind: 'container-link', readonly identity: Identity, readonly path: string, readonly container: Container, readonly type: NsType, readonly target: string }

// The entries that list: a user namespace's directory, /containers and a
// container's directory.
export type DirEntry = Entry & { readonly kind: 'dir' | 'containers' | 'container' }

export function isDir (entry: Entry): entry is DirEntry {
  return entry.kind === 'dir' || entry.kind === 'containers' || entry.kind === 'container'
}

export interface Attr {
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  timeMs: number
}

// Seconds the kernel may keep an entry's name and its attributes. Only an
// entry the caller may see is ever handed out, and a name the kernel keeps
// is found again only by someone who names it: a default name is an HMAC
// under a secret seed, shown only to those who may see it. So those are
// kept; a name anyone could guess (`user`, a chosen name) is asked for
// every time, so every caller is checked.
export interface CacheTimes {
  readonly entry: number
  readonly attr: number
}

export interface StatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  fsid: number
  flag: number
  namemax: number
}

// A directory's entries as one caller may see them, fixed when it is
// opened: the names at once, each entry made when it is read, so a slow
// reader of 60,000 entries holds their names, not 60,000 entries.
export interface DirListing {
  readonly names: readonly string[]
  // The entry names[i] stands for.
  readonly entry: (i: number) => Entry
}

function listingOf (entries: readonly Entry[]): DirListing {
  return { names: entries.map(e => e.path.slice(e.path.lastIndexOf('/') + 1)), entry: i => entries[i] as Entry }
}

// The kernel's side of each request (kernel/handles.ts, daemon wiring).
export interface Access {
  // The caller's view of the current tree.
  view: (who: Requester) => View
  // Whether the view knows holders as discovered: it may see every one,
  // from the daemon's own pid and mount namespaces.
  plain: (view: View) => boolean
  // The holders of `ns` the view may know of, as paths it can open.
  holders: (ns: Namespace, view: View) => readonly Holder[]
  // A path that leads to `ns` for the view right now; undefined when none
  // does (the holder moved or exited since the scan, or none is its to open).
  target: (ns: Namespace, view: View) => string | undefined
  // Makes the check `target` would make for `ns` now, while the caller
  // is busy, for a readlink expected next; nothing if the view's check
  // is its own.
  checkAhead: (ns: Namespace, view: View) => void
  // Whether some holder still leads to `ns` (it may have died since the
  // scan; one no process holds is alive through a child user namespace).
  alive: (ns: Namespace) => boolean
}

// Records a checked rename durably and serves the tree with it; throws
// when it could not be recorded (then nothing changed).
export type RenameRecorder = (plan: RenamePlan) => void

export const CACHE_SECONDS = 10

function identity (kind: 'd' | 'l' | 'm', ns: Namespace): Identity {
  return `${kind}:${nsKey(ns)}`
}

// The identity of a node of the tree (a metadata file is no tree node).
export function identityOf (node: Node): Identity {
  return identity(node.kind === 'dir' ? 'd' : 'l', node.ns)
}

function noEntry (path: string): NsfsError {
  return new NsfsError('ENOENT', 'no such namespace entry', { path })
}

function join (dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

const CONTAINERS_PATH = `/${CONTAINERS_DIR}`
const CONTAINERS_IDENTITY: Identity = 'c:'

function containerIdentity (c: Container, type?: NsType): Identity {
  return type === undefined ? `c:${c.engine}:${c.id}` : `c:${c.engine}:${c.id}:${type}`
}

export class Vfs {
  private readonly files = new HandleTable<Buffer>()

  constructor (
    private readonly tree: () => Tree,
    private readonly access: Access,
    private readonly recordRename: RenameRecorder = () => { throw new NsfsError('EROFS', 'renaming is not enabled') },
    private readonly containers: () => ContainerSet = () => NO_CONTAINERS,
  ) {}

  view (who: Requester): View {
    return this.access.view(who)
  }

  // The entry at `path` as `view` may see it; ENOENT when there is none for
  // it, or (`expect` given) when the path leads elsewhere now.
  resolve (path: string, view: View, expect?: Identity): Entry {
    const root = this.tree().root
    let entry: Entry = { kind: 'dir', identity: identityOf(root), path: '/', node: root }
    for (const part of path.split('/')) {
      if (part === '') continue
      if (!isDir(entry)) throw noEntry(path)
      entry = this.child(entry, part, view)
    }
    if (expect !== undefined && entry.identity !== expect) throw noEntry(path)
    return entry
  }

  // The entry `name` in directory `dir`, as `view` may see it.
  child (dir: DirEntry, name: string, view: View): Entry {
    const path = join(dir.path, name)
    switch (dir.kind) {
      case 'dir': {
        if (name === METADATA_FILE) return { kind: 'meta', identity: identity('m', dir.node.ns), path, dir: dir.node }
        if (path === CONTAINERS_PATH) return { kind: 'containers', identity: CONTAINERS_IDENTITY, path }
        const node = dir.node.entries.get(name)
        if (node === undefined || !this.shows(node, view)) throw noEntry(path)
        return this.entryOf(node, path)
      }
      case 'containers': {
        const c = this.containers().byName.get(name)
        if (c === undefined || this.linksOf(c, path, view).length === 0) throw new NsfsError('ENOENT', 'no such running container', { path })
        return { kind: 'container', identity: containerIdentity(c), path, container: c }
      }
      case 'container': {
        const link = isNsType(name) ? this.linksOf(dir.container, dir.path, view).find(l => l.type === name) : undefined
        if (link === undefined) throw new NsfsError('ENOENT', 'the container\'s init is in no namespace of that type you may see', { path })
        return link
      }
    }
  }

  // The links of a container's directory at `dirPath` that `view` sees:
  // one per namespace of its init that the tree shows and the view may
  // see, each relative to the namespace's place in the tree.
  // A container itself shows to who may see its init's mount namespace,
  // which every engine makes its own: namespaces it shares with the host
  // do not reveal it to everyone who shares them too.
  private linksOf (c: Container, dirPath: string, view: View): Array<Entry & { kind: 'container-link' }> {
    const tree = this.tree()
    const out: Array<Entry & { kind: 'container-link' }> = []
    const mnt = c.namespaces.get('mnt')
    const mntNs = mnt === undefined ? undefined : tree.discovery.namespaces.get(mnt)
    if (mnt === undefined || mntNs === undefined || !view.canSee(mnt, mntNs)) return out
    for (const type of CONTAINER_LINKS) {
      const key = c.namespaces.get(type)
      const ns = key === undefined ? undefined : tree.discovery.namespaces.get(key)
      const at = key === undefined ? undefined : pathOf(tree, key)
      if (key === undefined || ns === undefined || at === undefined || !view.canSee(key, ns)) continue
      // A user namespace opens through its directory's own handle.
      const entry = type === 'user' ? join(at, SELF_ENTRY) : at
      out.push({ kind: 'container-link', identity: containerIdentity(c, type), path: join(dirPath, type), container: c, type, target: `../..${entry}` })
    }
    return out
  }

  private entryOf (node: Node, path: string): Entry {
    return node.kind === 'dir'
      ? { kind: 'dir', identity: identityOf(node), path, node }
      : { kind: 'link', identity: identityOf(node), path, node }
  }

  // What is at `path` now, for whoever keeps caches of the tree (no caller,
  // no checks): a tree node, or undefined.
  nodeAt (path: string): Node | undefined {
    return lookup(this.tree(), path)
  }

  // Whether `entry` still stands where it was found (a listing outlives
  // the tree it was made from).
  stands (entry: Entry): boolean {
    switch (entry.kind) {
      case 'dir':
      case 'link': {
        const now = this.nodeAt(entry.path)
        return now !== undefined && identityOf(now) === entry.identity
      }
      case 'meta': {
        const dir = this.nodeAt(entry.path.slice(0, -METADATA_FILE.length - 1) || '/')
        return dir?.kind === 'dir' && identity('m', dir.ns) === entry.identity
      }
      case 'containers':
        return true
      case 'container':
      case 'container-link': {
        const name = entry.path.split('/')[2] ?? ''
        const c = this.containers().byName.get(name)
        return c !== undefined && containerIdentity(c) === containerIdentity(entry.container)
      }
    }
  }

  get rootIdentity (): Identity {
    return identityOf(this.tree().root)
  }

  // Whether `view` sees `node`: a namespace it may see, or a directory that
  // leads to one. (A directory's `user` handle is its own namespace.)
  private shows (node: Node, view: View): boolean {
    if (view.privileged) return true
    const key = nsKey(node.ns)
    return node.kind === 'dir' ? view.reaches(key, node.ns) : view.canSee(key, node.ns)
  }

  attr (entry: Entry): Attr {
    switch (entry.kind) {
      // One link for every directory: its count of subdirectories would
      // tell every caller how many there are, seen or not.
      case 'dir':
        return { mode: S_IFDIR | 0o755, uid: entry.node.ns.ownerUid ?? 0, gid: 0, size: 0, nlink: 1, timeMs: entry.node.firstSeen }
      case 'link': {
        const first = entry.node.ns.holders[0]
        const size = first === undefined ? 0 : Buffer.byteLength(holderPath(first, entry.node.ns.type))
        return { mode: S_IFLNK | 0o777, uid: entry.node.dir.ownerUid ?? 0, gid: 0, size, nlink: 1, timeMs: entry.node.firstSeen }
      }
      case 'meta':
        return { mode: S_IFREG | 0o444, uid: entry.dir.ns.ownerUid ?? 0, gid: 0, size: lastRenderedSize(entry.path.slice(0, -METADATA_FILE.length - 1) || '/'), nlink: 1, timeMs: entry.dir.firstSeen }
      case 'containers':
        return { mode: S_IFDIR | 0o555, uid: 0, gid: 0, size: 0, nlink: 1, timeMs: this.tree().root.firstSeen }
      case 'container':
        return { mode: S_IFDIR | 0o555, uid: 0, gid: 0, size: 0, nlink: 1, timeMs: entry.container.firstSeen }
      case 'container-link':
        return { mode: S_IFLNK | 0o777, uid: 0, gid: 0, size: Buffer.byteLength(entry.target), nlink: 1, timeMs: entry.container.firstSeen }
    }
  }

  cacheTimes (entry: Entry): CacheTimes {
    switch (entry.kind) {
      // Its size changes with every rendering.
      case 'meta': return { entry: CACHE_SECONDS, attr: 0 }
      case 'dir':
      case 'link': {
        const name = entry.path.slice(entry.path.lastIndexOf('/') + 1)
        return { entry: name === entry.node.defaultName && name !== SELF_ENTRY ? CACHE_SECONDS : 0, attr: CACHE_SECONDS }
      }
      // Names anyone could guess, that come and go with no notice to the
      // kernel: asked every time.
      case 'containers':
      case 'container':
      case 'container-link':
        return { entry: 0, attr: 0 }
    }
  }

  // What `view` sees in a directory: in tree order, at the root then
  // `containers`, the metadata file last.
  list (dir: DirEntry, view: View): DirListing {
    switch (dir.kind) {
      case 'dir': {
        // Names now; each entry as a lookup makes it, when it is read.
        const names: string[] = []
        for (const [name, node] of dir.node.entries) if (this.shows(node, view)) names.push(name)
        if (dir.path === '/') names.push(CONTAINERS_DIR)
        names.push(METADATA_FILE)
        return { names, entry: i => this.child(dir, names[i] as string, view) }
      }
      case 'containers': {
        const entries: Entry[] = []
        for (const [name, c] of this.containers().byName) {
          const path = join(dir.path, name)
          if (this.linksOf(c, path, view).length > 0) entries.push({ kind: 'container', identity: containerIdentity(c), path, container: c })
        }
        return listingOf(entries)
      }
      case 'container':
        return listingOf(this.linksOf(dir.container, dir.path, view))
    }
  }

  readlink (entry: Entry, view: View): string {
    if (entry.kind === 'container-link') return entry.target
    if (entry.kind !== 'link') throw new NsfsError('EINVAL', 'not a namespace handle', { path: entry.path })
    const target = this.access.target(entry.node.ns, view)
    if (target === undefined) throw new NsfsError('ENOENT', 'no live holder of this namespace is yours to open', { path: entry.path })
    return target
  }

  // The readlink of `entry` is likely next: its check may be made now.
  readAhead (entry: Entry, view: View): void {
    if (entry.kind === 'link') this.access.checkAhead(entry.node.ns, view)
  }

  // Opens a metadata file: its content is fixed here for the life of the
  // handle, as `view` may know it. Answers the handle number.
  open (entry: Entry, flags: number, view: View): number {
    if (entry.kind !== 'meta') throw new NsfsError(isDir(entry) ? 'EISDIR' : 'EINVAL', 'only metadata files can be opened here', { path: entry.path })
    // O_WRONLY or O_RDWR: root passes the mode check, the content is still fixed.
    if ((flags & 3) !== 0) throw new NsfsError('EROFS', 'metadata files are read-only', { path: entry.path })
    const dirPath = entry.path.slice(0, -METADATA_FILE.length - 1) || '/'
    const select = this.access.plain(view)
      ? undefined
      : (key: NsKey, ns: Namespace) => view.canSee(key, ns) ? this.access.holders(ns, view) : undefined
    const all = this.containers()
    const containers = select === undefined ? all : all.only(c => this.linksOf(c, '', view).length > 0)
    const meta = renderMetadata(this.tree(), dirPath, containers, select)
    if (meta === undefined) throw new NsfsError('ENOENT', 'no such user namespace directory', { path: entry.path })
    return this.files.add(meta)
  }

  read (fh: number, length: number, position: number): Buffer {
    const content = this.files.get(fh)
    if (content === undefined) throw new NsfsError('EBADF', 'no such open metadata file')
    return content.subarray(Math.min(position, content.length), Math.min(position + length, content.length))
  }

  release (fh: number): void {
    this.files.release(fh)
  }

  // Metadata files open right now.
  get openFiles (): number {
    return this.files.size
  }

  // rename(2) within a directory: names the namespace `src` opens. The
  // kernel has checked write permission on the directory; the name is for
  // everybody, so only who holds CAP_SYS_ADMIN over the directory's user
  // namespace may give it.
  rename (src: string, dest: string, view: View): void {
    const from = this.resolve(src, view)
    if (from.kind === 'containers' || from.kind === 'container' || from.kind === 'container-link') {
      throw new NsfsError('EPERM', 'containers are named by their engine (rename the container there)', { path: src })
    }
    if (dest === CONTAINERS_PATH) throw new NsfsError('EEXIST', 'the directory of containers has that name', { path: dest })
    const dir = this.resolve(src.slice(0, src.lastIndexOf('/')) || '/', view)
    if (dir.kind === 'dir' && !view.isAdmin(nsKey(dir.node.ns))) {
      throw new NsfsError('EACCES', 'renaming needs CAP_SYS_ADMIN in the user namespace that owns the directory', { path: src })
    }
    const plan = planRename(this.tree(), from.path, dest)
    if (plan.kind === 'none') return
    if (!this.access.alive(plan.ns)) {
      throw new NsfsError('ENOENT', 'the namespace died', { path: src })
    }
    this.recordRename(plan)
  }

  // Counts what `view` may see.
  statfs (view: View): StatFs {
    const all = this.tree().discovery.namespaces
    let files = all.size
    if (!view.privileged) {
      files = 0
      for (const [key, ns] of all) if (view.canSee(key, ns)) files++
    }
    return { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 }
  }
}
