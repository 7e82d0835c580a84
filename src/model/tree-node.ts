// The nodes of the tree and where a namespace goes in it: user namespaces
// are directories, every other namespace is an entry in the directory of
// the user namespace that owns it. Shared by the builder (tree.ts) and the
// patcher (tree-patch.ts); a tree is never changed once made.
import type { Discovery, Namespace, NsKey } from './namespace.js'

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

// Names chosen with rename(2) or imported, by namespace; a namespace absent
// from it shows its default name. Only an imported name may have the
// reserved shape.
export type ChosenNames = ReadonlyMap<NsKey, { readonly name: string, readonly imported?: boolean }>

// Where a namespace shows: the directory of its owner, or the root when the
// owner is outside our view.
export function dirOf (ns: Namespace, key: NsKey, d: Discovery): NsKey {
  const owner = ns.owner
  return owner !== null && d.namespaces.has(owner) && owner !== key ? owner : d.root
}

// A non-user namespace with no holder (known only as a parent, or only to
// listns) has nothing to open: it stays out of the tree and shows in the
// metadata only. User namespaces stay, as directories.
export function isShown (ns: Namespace, key: NsKey, root: NsKey): boolean {
  return key !== root && (ns.type === 'user' || ns.holders.length > 0)
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
