// The tree: user namespaces are directories, every other namespace is an
// entry in the directory of the user namespace that owns it. Built whole
// from one discovery and the names chosen with rename(2), and never changed
// afterwards.
import { nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'
import { HashBook, nameDirectory } from './names.js'
import { badNameReason, isReservedName } from './name-rules.js'

// The name of a user namespace's own handle inside its directory.
export const SELF_ENTRY = 'user'

export type Node = DirNode | LinkNode

export interface DirNode {
  readonly kind: 'dir'
  readonly ns: Namespace
  // The name it has when nobody renamed it ('' for the root).
  readonly defaultName: string
  readonly entries: ReadonlyMap<string, Node>
  readonly firstSeen: number
}

export interface LinkNode {
  readonly kind: 'link'
  readonly ns: Namespace
  readonly defaultName: string
  // The user namespace whose directory holds this entry.
  readonly dir: Namespace
  readonly firstSeen: number
}

export interface Tree {
  readonly root: DirNode
  readonly discovery: Discovery
}

// Names chosen with rename(2), by namespace; a namespace absent from it
// shows its default name.
export type ChosenNames = ReadonlyMap<NsKey, { readonly name: string }>

// Builds successive trees, remembering names and first sightings between them.
export class TreeBuilder {
  private readonly hashes: HashBook
  private firstSeen = new Map<NsKey, number>()

  constructor (seed: Uint8Array) {
    this.hashes = new HashBook(seed)
  }

  build (discovery: Discovery, chosen: ChosenNames = new Map()): Tree {
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
    const makeDir = (ns: Namespace, defaultName: string): DirNode => {
      const key = nsKey(ns)
      building.add(key)
      const entries = new Map<string, Node>()
      if (ns.holders.length > 0) entries.set(SELF_ENTRY, this.link(ns, ns, SELF_ENTRY))
      // Every member gets its default name, renamed or not, so a rename back
      // always finds its default free.
      const named = nameDirectory(members.get(key) ?? [], m => this.hashes.hashOf(nsKey(m), m))
      const renamed: Array<[string, string, Namespace]> = []
      const add = (name: string, dflt: string, member: Namespace): void => {
        entries.set(name, member.type === 'user' ? makeDir(member, dflt) : this.link(member, ns, dflt))
      }
      for (const [name, member] of named) {
        const memberKey = nsKey(member)
        // A cycle cannot come from the kernel; guard against a bad snapshot.
        if (building.has(memberKey)) continue
        const chosenName = chosen.get(memberKey)?.name
        if (chosenName !== undefined && chosenName !== name) renamed.push([chosenName, name, member])
        else add(name, name, member)
      }
      // A chosen name that is not (or no longer) usable here falls back to
      // the default: the state file may have been edited by hand.
      for (const [name, dflt, member] of renamed) {
        const usable = badNameReason(name) === undefined && !isReservedName(name) && name !== SELF_ENTRY && !entries.has(name) && !named.has(name)
        add(usable ? name : dflt, dflt, member)
      }
      building.delete(key)
      return { kind: 'dir', ns, defaultName, entries, firstSeen: this.seen(key) }
    }
    return { root: makeDir(rootNs, ''), discovery }
  }

  private link (ns: Namespace, dir: Namespace, defaultName: string): LinkNode {
    return { kind: 'link', ns, dir, defaultName, firstSeen: this.seen(nsKey(ns)) }
  }

  private seen (key: NsKey): number {
    return this.firstSeen.get(key) ?? Date.now()
  }
}

// The tree with the entry at `path` shown as `name` in the same directory.
// Only the directories on the way are copied: a rename costs the size of
// those directories, not of the tree.
export function withEntryRenamed (tree: Tree, path: string, name: string): Tree {
  const parts = path.split('/').filter(p => p !== '')
  const copy = (dir: DirNode, i: number): DirNode => {
    const part = parts[i]
    const child = part === undefined ? undefined : dir.entries.get(part)
    if (part === undefined || child === undefined) throw new Error(`no entry ${path} to rename`)
    const entries = new Map(dir.entries)
    if (i === parts.length - 1) {
      entries.delete(part)
      entries.set(name, child)
    } else {
      if (child.kind !== 'dir') throw new Error(`no entry ${path} to rename`)
      entries.set(part, copy(child, i + 1))
    }
    return { ...dir, entries }
  }
  return { ...tree, root: copy(tree.root, 0) }
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
