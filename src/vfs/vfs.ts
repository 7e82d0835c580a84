// A filesystem over the current tree: what FUSE asks, answered from the
// model, failing with NsfsError. No FUSE and no root needed to test it.
import { NsfsError } from '../errors.js'
import { holderPath, type Namespace } from '../model/namespace.js'
import { lookup, type DirNode, type Node, type Tree } from '../model/tree.js'

export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000

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

export class Vfs {
  constructor (
    private readonly tree: () => Tree,
    private readonly resolveHandle: HandleResolver,
  ) {}

  private node (path: string): Node {
    const node = lookup(this.tree(), path)
    if (node === undefined) throw new NsfsError('ENOENT', 'no such namespace entry', { path })
    return node
  }

  getattr (path: string): Attr {
    const node = this.node(path)
    const time = new Date(node.firstSeen)
    switch (node.kind) {
      case 'dir': {
        let subdirs = 0
        for (const e of node.entries.values()) if (e.kind === 'dir') subdirs++
        return { mode: S_IFDIR | 0o755, uid: node.ns.ownerUid ?? 0, gid: 0, size: 0, nlink: 2 + subdirs, mtime: time, atime: time, ctime: time }
      }
      case 'link': {
        const first = node.ns.holders[0]
        const size = first === undefined ? 0 : Buffer.byteLength(holderPath(first, node.ns.type))
        return { mode: S_IFLNK | 0o777, uid: node.dir.ownerUid ?? 0, gid: 0, size, nlink: 1, mtime: time, atime: time, ctime: time }
      }
    }
  }

  readdir (path: string): string[] {
    return [...this.dir(path).entries.keys()]
  }

  // The file type of every entry, in readdir's order: given to the kernel
  // with the names, it spares `find` an lstat per entry (d_type).
  readdirModes (path: string): number[] {
    const modes: number[] = []
    for (const e of this.dir(path).entries.values()) modes.push(e.kind === 'dir' ? S_IFDIR : S_IFLNK)
    return modes
  }

  private dir (path: string): DirNode {
    const node = this.node(path)
    if (node.kind !== 'dir') throw new NsfsError('ENOTDIR', 'not a user namespace directory', { path })
    return node
  }

  readlink (path: string): string {
    const node = this.node(path)
    if (node.kind !== 'link') throw new NsfsError('EINVAL', 'not a namespace handle', { path })
    const target = this.resolveHandle(node.ns)
    if (target === undefined) throw new NsfsError('ENOENT', 'namespace has no live holder', { path })
    return target
  }

  statfs (): StatFs {
    const files = this.tree().discovery.namespaces.size
    return { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 }
  }
}
