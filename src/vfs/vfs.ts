// A filesystem over the current tree: what FUSE asks, answered from the
// model, failing with NsfsError. No FUSE and no root needed to test it.
import { NsfsError } from '../errors.js'
import { holderPath, type Namespace } from '../model/namespace.js'
import { METADATA_FILE } from '../model/metadata.js'
import { planRename, type RenamePlan } from '../model/overlay.js'
import { lookup, type DirNode, type Node, type Tree } from '../model/tree-node.js'
import { HandleTable } from './handle-table.js'
import { lastRenderedSize, metadataDirOf, renderMetadata } from './metadata.js'

export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000
export const S_IFREG = 0o100000

// A directory's link count: itself, its entry in the parent, and each
// subdirectory's `..`.
export function nlinkOf (dir: DirNode): number {
  let subdirs = 0
  for (const e of dir.entries.values()) if (e.kind === 'dir') subdirs++
  return 2 + subdirs
}

export interface Attr {
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  mtime: Date
  atime: Date
  ctime: Date
}

// The attributes of a directory or handle in the tree.
export function attrOfNode (node: Node): Attr {
  const time = new Date(node.firstSeen)
  switch (node.kind) {
    case 'dir':
      return { mode: S_IFDIR | 0o755, uid: node.ns.ownerUid ?? 0, gid: 0, size: 0, nlink: nlinkOf(node), mtime: time, atime: time, ctime: time }
    case 'link': {
      const first = node.ns.holders[0]
      const size = first === undefined ? 0 : Buffer.byteLength(holderPath(first, node.ns.type))
      return { mode: S_IFLNK | 0o777, uid: node.dir.ownerUid ?? 0, gid: 0, size, nlink: 1, mtime: time, atime: time, ctime: time }
    }
  }
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

// Finds a holder path that, right now, still leads to `ns` (the pid may have
// been reused since the scan); undefined when none does.
export type HandleResolver = (ns: Namespace) => string | undefined

// Records a checked rename durably and serves the tree with it; throws
// when it could not be recorded (then nothing changed).
export type RenameRecorder = (plan: RenamePlan) => void

export class Vfs {
  private readonly files = new HandleTable<Buffer>()

  constructor (
    private readonly tree: () => Tree,
    private readonly resolveHandle: HandleResolver,
    private readonly recordRename: RenameRecorder = () => { throw new NsfsError('EROFS', 'renaming is not enabled') },
  ) {}

  private node (path: string): Node {
    const node = lookup(this.tree(), path)
    if (node === undefined) throw new NsfsError('ENOENT', 'no such namespace entry', { path })
    return node
  }

  // The content of the metadata file at `path` in the current tree, or
  // undefined when `path` is not one.
  private metadata (path: string): Buffer | undefined {
    const dir = metadataDirOf(path)
    return dir === undefined ? undefined : renderMetadata(this.tree(), dir)
  }

  getattr (path: string): Attr {
    const metaDir = metadataDirOf(path)
    if (metaDir !== undefined) {
      const dir = this.node(metaDir)
      if (dir.kind !== 'dir') throw new NsfsError('ENOTDIR', 'not a user namespace directory', { path })
      const time = new Date(dir.firstSeen)
      return { mode: S_IFREG | 0o444, uid: dir.ns.ownerUid ?? 0, gid: 0, size: lastRenderedSize(metaDir), nlink: 1, mtime: time, atime: time, ctime: time }
    }
    return attrOfNode(this.node(path))
  }

  readdir (path: string): string[] {
    return [...this.dir(path).entries.keys(), METADATA_FILE]
  }

  private dir (path: string): DirNode {
    const node = this.node(path)
    if (node.kind !== 'dir') throw new NsfsError('ENOTDIR', 'not a user namespace directory', { path })
    return node
  }

  // Opens a metadata file: its content is fixed here for the life of the
  // handle. Answers the handle number.
  open (path: string, flags: number): number {
    if (metadataDirOf(path) === undefined) {
      const node = this.node(path)
      throw new NsfsError(node.kind === 'dir' ? 'EISDIR' : 'EINVAL', 'only metadata files can be opened here', { path })
    }
    // O_WRONLY or O_RDWR: root passes the mode check, the content is still fixed.
    if ((flags & 3) !== 0) throw new NsfsError('EROFS', 'metadata files are read-only', { path })
    const meta = this.metadata(path)
    if (meta === undefined) throw new NsfsError('ENOENT', 'no such user namespace directory', { path })
    return this.files.add(meta)
  }

  read (path: string, fh: number, length: number, position: number): Buffer {
    const content = this.files.get(fh)
    if (content === undefined) throw new NsfsError('EBADF', 'no such open metadata file', { path })
    return content.subarray(Math.min(position, content.length), Math.min(position + length, content.length))
  }

  release (fh: number): void {
    this.files.release(fh)
  }

  // Metadata files open right now.
  get openFiles (): number {
    return this.files.size
  }

  readlink (path: string): string {
    const node = this.node(path)
    if (node.kind !== 'link') throw new NsfsError('EINVAL', 'not a namespace handle', { path })
    const target = this.resolveHandle(node.ns)
    if (target === undefined) throw new NsfsError('ENOENT', 'namespace has no live holder', { path })
    return target
  }

  // rename(2) within a directory: names the namespace `src` opens.
  rename (src: string, dest: string): void {
    const plan = planRename(this.tree(), src, dest)
    if (plan.kind === 'none') return
    // The scan may be older than the namespace's death. One no process
    // holds is alive through a child user namespace.
    if (plan.ns.holders.length > 0 && this.resolveHandle(plan.ns) === undefined) {
      throw new NsfsError('ENOENT', 'the namespace died', { path: src })
    }
    this.recordRename(plan)
  }

  statfs (): StatFs {
    const files = this.tree().discovery.namespaces.size
    return { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 }
  }
}
