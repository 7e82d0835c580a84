// The nodes the kernel knows: FUSE names every file by a node id that we
// hand out in LOOKUP and READDIRPLUS replies and that stays valid until the
// kernel FORGETs it. A node stands for one thing in the tree (a namespace's
// directory or handle, a directory's metadata file), whatever its name: a
// rename keeps the node, a namespace that dies takes its node along.

export const ROOT_ID = 1n

export interface KnownNode {
  readonly id: bigint
  // What the node stands for (see identityOf in ops.ts).
  readonly identity: string
  // Where the kernel last saw it: parent node and name.
  parent: bigint
  name: string
  // Lookups the kernel holds: node ids it has been given, minus forgotten.
  lookups: number
}

export class NodeTable {
  private readonly byId = new Map<bigint, KnownNode>()
  private readonly byIdentity = new Map<string, KnownNode>()
  // Children by name, per parent node: what to invalidate when a
  // directory changes.
  private readonly children = new Map<bigint, Map<string, KnownNode>>()
  // Never reused, so generation 0 is always right.
  private next = ROOT_ID + 1n

  constructor (rootIdentity: string) {
    const root: KnownNode = { id: ROOT_ID, identity: rootIdentity, parent: ROOT_ID, name: '', lookups: 1 }
    this.byId.set(ROOT_ID, root)
    this.byIdentity.set(rootIdentity, root)
  }

  get (id: bigint): KnownNode | undefined {
    return this.byId.get(id)
  }

  idOf (identity: string): bigint | undefined {
    return this.byIdentity.get(identity)?.id
  }

  get size (): number {
    return this.byId.size
  }

  // One more lookup of `identity` as `name` in `parent`: its node id.
  remember (identity: string, parent: bigint, name: string): bigint {
    let node = this.byIdentity.get(identity)
    if (node === undefined) {
      node = { id: this.next++, identity, parent, name, lookups: 0 }
      this.byId.set(node.id, node)
      this.byIdentity.set(identity, node)
    } else if (node.id === ROOT_ID) {
      return ROOT_ID
    } else {
      this.moved(node, parent, name)
    }
    node.lookups++
    this.childrenOf(parent).set(name, node)
    return node.id
  }

  // The kernel renamed the node's dentry.
  moved (node: KnownNode, parent: bigint, name: string): void {
    if (node.parent === parent && node.name === name) return
    this.unlink(node)
    node.parent = parent
    node.name = name
    this.childrenOf(parent).set(name, node)
  }

  // The kernel no longer has the node under its name (we told it so).
  unname (node: KnownNode): void {
    this.unlink(node)
  }

  forget (id: bigint, nlookup: number): void {
    const node = this.byId.get(id)
    if (node === undefined || id === ROOT_ID) return
    node.lookups -= nlookup
    if (node.lookups > 0) return
    this.byId.delete(id)
    this.byIdentity.delete(node.identity)
    this.unlink(node)
  }

  // The known children of a directory node, by the name the kernel has.
  childrenIn (parent: bigint): ReadonlyMap<string, KnownNode> {
    return this.children.get(parent) ?? new Map()
  }

  // Every directory node with known children.
  parents (): IterableIterator<bigint> {
    return this.children.keys()
  }

  private childrenOf (parent: bigint): Map<string, KnownNode> {
    let m = this.children.get(parent)
    if (m === undefined) {
      m = new Map()
      this.children.set(parent, m)
    }
    return m
  }

  private unlink (node: KnownNode): void {
    const siblings = this.children.get(node.parent)
    if (siblings?.get(node.name) !== node) return
    siblings.delete(node.name)
    if (siblings.size === 0) this.children.delete(node.parent)
  }
}
