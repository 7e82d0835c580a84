// The tree: user namespaces are directories, every other namespace is an
// entry in the directory of the user namespace that owns it. Built whole
// from one discovery and never changed afterwards.
import { nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'
import { HashBook, nameDirectory } from './names.js'

// The name of a user namespace's own handle inside its directory.
export const SELF_ENTRY = 'user'

export type Node = DirNode | LinkNode

export interface DirNode {
  readonly kind: 'dir'
  readonly ns: Namespace
  readonly entries: ReadonlyMap<string, Node>
  readonly firstSeen: number
}

export interface LinkNode {
  readonly kind: 'link'
  readonly ns: Namespace
  // The user namespace whose directory holds this entry.
  readonly dir: Namespace
  readonly firstSeen: number
}

export interface Tree {
  readonly root: DirNode
  readonly discovery: Discovery
}

// Builds successive trees, remembering names and first sightings between them.
export class TreeBuilder {
  private readonly hashes: HashBook
  private firstSeen = new Map<NsKey, number>()

  constructor (seed: Uint8Array) {
    this.hashes = new HashBook(seed)
  }

  build (discovery: Discovery): Tree {
    const { namespaces } = discovery
    const rootNs = namespaces.get(discovery.root)
    if (rootNs === undefined) throw new Error(`root user namespace ${discovery.root} missing from discovery`)

    const seen = new Map<NsKey, number>()
    for (const key of namespaces.keys()) seen.set(key, this.firstSeen.get(key) ?? discovery.scannedAt)
    this.firstSeen = seen
    this.hashes.retain(namespaces)

    // Members of each user namespace's directory; an owner outside our view
    // (or outside the root's subtree) puts the namespace at the root.
    const members = new Map<NsKey, Namespace[]>()
    const dirOf = (ns: Namespace): NsKey => {
      const owner = ns.owner
      return owner !== null && namespaces.has(owner) && owner !== nsKey(ns) ? owner : discovery.root
    }
    for (const [key, ns] of namespaces) {
      if (key === discovery.root) continue
      // A non-user namespace with no holder (known only as a parent, or only
      // to listns) has nothing to open: it stays out of the tree and shows
      // in the metadata only. User namespaces stay, as directories.
      if (ns.type !== 'user' && ns.holders.length === 0) continue
      const dir = dirOf(ns)
      const list = members.get(dir)
      if (list === undefined) members.set(dir, [ns])
      else list.push(ns)
    }

    const building = new Set<NsKey>()
    const makeDir = (ns: Namespace): DirNode => {
      const key = nsKey(ns)
      building.add(key)
      const entries = new Map<string, Node>()
      if (ns.holders.length > 0) entries.set(SELF_ENTRY, this.link(ns, ns))
      const named = nameDirectory(members.get(key) ?? [], m => this.hashes.hashOf(nsKey(m), m))
      for (const [name, member] of named) {
        const memberKey = nsKey(member)
        // A cycle cannot come from the kernel; guard against a bad snapshot.
        if (building.has(memberKey)) continue
        entries.set(name, member.type === 'user' ? makeDir(member) : this.link(member, ns))
      }
      building.delete(key)
      return { kind: 'dir', ns, entries, firstSeen: this.seen(key) }
    }
    return { root: makeDir(rootNs), discovery }
  }

  private link (ns: Namespace, dir: Namespace): LinkNode {
    return { kind: 'link', ns, dir, firstSeen: this.seen(nsKey(ns)) }
  }

  private seen (key: NsKey): number {
    return this.firstSeen.get(key) ?? Date.now()
  }
}

// The node at a path such as '/user-ab12…/net-cd34…'.
export function lookup (tree: Tree, path: string): Node | undefined {
  let node: Node = tree.root
  for (const part of path.split('/')) {
    if (part === '') continue
    if (node.kind !== 'dir') return undefined
    const next: Node | undefined = node.entries.get(part)
    if (next === undefined) return undefined
    node = next
  }
  return node
}
