// What the kernel may have cached of the tree, and the notifications that
// bring it in line after a change: names it keeps (dentries) that lead
// elsewhere now or nowhere, and handles whose size (the length of the first
// holder's path) changed. Directory link counts are always 1, and symlink
// targets are never cached, so neither needs telling.
import type { TreeChange } from '../model/tree-change.js'
import { holderPath, type Holder, type NsType } from '../model/namespace.js'
import type { Node } from '../model/tree-node.js'
import { identityOf } from '../vfs/vfs.js'
import { ROOT_ID, type KnownNode, type NodeTable } from './inodes.js'
import { invalEntry, invalInode } from './protocol.js'
import { METADATA_FILE } from '../model/metadata.js'

export class KernelCache {
  // The first holder each handle's size was answered from: the discovery's
  // own object, not a path made for the purpose (one per entry the kernel
  // looked up, 60,000 after a `find`).
  private readonly sizedFrom = new Map<bigint, Holder>()

  constructor (
    private readonly nodes: NodeTable,
    // The tree node at a node's path now.
    private readonly nodeOf: (id: bigint) => Node | undefined,
  ) {}

  // Attributes of `node` went to the kernel as node `id`.
  answered (id: bigint, node: Node): void {
    if (node.kind !== 'link') return
    const first = node.ns.holders[0]
    if (first !== undefined) this.sizedFrom.set(id, first)
  }

  // The kernel forgot node `id`.
  forgotten (id: bigint): void {
    this.sizedFrom.delete(id)
  }

  invalidations (change: TreeChange): Buffer[] {
    const out: Buffer[] = []
    switch (change.kind) {
      case 'whole':
        for (const parentId of [...this.nodes.parents()]) {
          for (const [name, child] of this.nodes.childrenIn(parentId)) this.check(parentId, name, child, out)
        }
        break
      case 'dirs':
        for (const c of change.dirs) {
          const dirId = this.nodes.idOf(`d:${c.dir}`)
          // Nothing in a directory the kernel never looked up is cached.
          if (dirId === undefined) continue
          const known = this.nodes.childrenIn(dirId)
          for (const names of [c.removed, c.changed, c.added]) {
            for (const name of names) {
              const child = known.get(name)
              if (child !== undefined) this.check(dirId, name, child, out)
            }
          }
        }
        break
    }
    return out
  }

  // One name the kernel may keep in directory node `parentId`.
  private check (parentId: bigint, name: string, child: KnownNode, out: Buffer[]): void {
    // Containers and their links are never kept by the kernel (their entry
    // time is 0), and their node lives on through tree changes.
    if (child.identity.startsWith('c:')) return
    const dir = parentId === ROOT_ID || this.nodes.get(parentId) !== undefined ? this.nodeOf(parentId) : undefined
    if (dir?.kind !== 'dir') return this.unname(parentId, name, child, out)
    if (name === METADATA_FILE) return
    const now = dir.entries.get(name)
    if (now === undefined || identityOf(now) !== child.identity) return this.unname(parentId, name, child, out)
    const sized = this.sizedFrom.get(child.id)
    if (now.kind === 'link' && sized !== undefined && !samePlace(now.ns.holders[0], sized, now.ns.type)) {
      this.sizedFrom.delete(child.id)
      out.push(invalInode(child.id))
    }
  }

  // The kernel drops the name; the node lives on until it forgets it.
  private unname (parentId: bigint, name: string, child: KnownNode, out: Buffer[]): void {
    this.nodes.unname(child)
    out.push(invalEntry(parentId, name))
  }
}

// Whether holder `a` is `b` as far as a handle's size goes: the same task
// (start time) at the same path.
function samePlace (a: Holder | undefined, b: Holder, type: NsType): boolean {
  return a !== undefined && (a === b || (a.start === b.start && holderPath(a, type) === holderPath(b, type)))
}
