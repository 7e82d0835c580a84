// The tree builder: a tree from one discovery and the names chosen with
// rename(2), built whole or patched from the last one (tree-patch.ts). Never
// changed once made: an update makes a new tree sharing what did not change.
import { nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'
import { CONTAINERS_DIR } from './containers.js'
import { defaultName, HashBook, nameDirectory } from './names.js'
import { badNameReason, isReservedName } from './name-rules.js'
import { CycleError, patchTree, type PatchContext, type TreePatch } from './tree-patch.js'
import { dirOf, isShown, SELF_ENTRY, type ChosenNames, type DirNode, type LinkNode, type Node, type Tree } from './tree-node.js'

// Builds successive trees, remembering names and first sightings between
// them: whole from one discovery, or patched with what changed since the
// last (only the directories concerned, and those above them, are new
// objects; the rest is shared with the previous tree).
export class TreeBuilder {
  private readonly hashes: HashBook
  private firstSeen = new Map<NsKey, number>()
  // Directories whose names are not all short defaults given alone: a
  // collision of short names, or a chosen name that could not be used. A
  // patch touching one lays it out whole, as a build would.
  private irregular = new Set<NsKey>()
  // Namespaces shown at the root only because their owner is not in the
  // discovery, by that owner: should it appear, they move into its directory.
  private displaced = new Map<NsKey, Set<NsKey>>()
  // The root's user namespace, whose directory keeps `containers` free.
  private root: NsKey | undefined

  // What a patch may use of this builder.
  private readonly context: PatchContext = {
    shortName: ns => this.shortName(ns),
    link: (ns, dir, dflt) => this.link(ns, dir, dflt),
    seen: key => this.seen(key),
    layout: (dirNs, members, child, chosen) => this.layout(dirNs, members, child, chosen),
    isIrregular: dir => this.irregular.has(dir),
    markDisplaced: (key, ns, d) => this.markDisplaced(key, ns, d),
    displacedBy: owner => [...this.displaced.get(owner) ?? []],
  }

  constructor (seed: Uint8Array) {
    this.hashes = new HashBook(seed)
  }

  build (discovery: Discovery, chosen: ChosenNames = new Map()): Tree {
    const { namespaces, root } = discovery
    this.root = root
    const rootNs = namespaces.get(root)
    if (rootNs === undefined) throw new Error(`root user namespace ${root} missing from discovery`)

    const seen = new Map<NsKey, number>()
    for (const key of namespaces.keys()) seen.set(key, this.firstSeen.get(key) ?? discovery.scannedAt)
    this.firstSeen = seen
    this.hashes.retain(namespaces)
    this.irregular = new Set()
    this.displaced = new Map()

    const members = new Map<NsKey, Namespace[]>()
    for (const [key, ns] of namespaces) {
      if (!isShown(ns, key, root)) continue
      this.markDisplaced(key, ns, discovery)
      const dir = dirOf(ns, key, discovery)
      const list = members.get(dir)
      if (list === undefined) members.set(dir, [ns])
      else list.push(ns)
    }

    const building = new Set<NsKey>()
    const makeDir = (ns: Namespace, defaultName: string): DirNode | undefined => {
      const key = nsKey(ns)
      // A cycle cannot come from the kernel; guard against a bad snapshot.
      if (building.has(key)) return undefined
      building.add(key)
      const entries = this.layout(ns, members.get(key) ?? [], (m, dflt) => m.type === 'user' ? makeDir(m, dflt) : this.link(m, ns, dflt), chosen)
      building.delete(key)
      return { kind: 'dir', ns, defaultName, entries, firstSeen: this.seen(key) }
    }
    return { root: makeDir(rootNs, '') as DirNode, discovery }
  }

  // `tree` (the last this builder made, renames applied since included)
  // brought to `next`, of which only the namespaces in `changed` differ
  // from `tree.discovery` (added, changed or gone). The tree equals what
  // `build(next, chosen)` would give.
  patch (tree: Tree, next: Discovery, changed: ReadonlySet<NsKey>, chosen: ChosenNames = new Map()): TreePatch {
    const prev = tree.discovery
    if (next.root !== prev.root) return { tree: this.build(next, chosen), change: { kind: 'whole' } }
    for (const key of changed) if (next.namespaces.has(key) && !this.firstSeen.has(key)) this.firstSeen.set(key, next.scannedAt)
    try {
      return patchTree(this.context, tree, next, changed, chosen)
    } catch (err) {
      if (!(err instanceof CycleError)) throw err
      return { tree: this.build(next, chosen), change: { kind: 'whole' } }
    } finally {
      // Forgotten only after the patch, which finds the entries of the dead
      // by their names.
      for (const key of changed) {
        if (next.namespaces.has(key)) continue
        this.firstSeen.delete(key)
        this.hashes.drop(key)
      }
    }
  }

  // The entries of one directory: its own handle, then every member by its
  // default name or the name chosen for it. `child` makes a member's node
  // (undefined: leave it out).
  private layout (dirNs: Namespace, members: readonly Namespace[], child: (m: Namespace, dflt: string) => Node | undefined, chosen: ChosenNames): Map<string, Node> {
    const key = nsKey(dirNs)
    let irregular = false
    const entries = new Map<string, Node>()
    if (dirNs.holders.length > 0) entries.set(SELF_ENTRY, this.link(dirNs, dirNs, SELF_ENTRY))
    // Every member gets its default name, renamed or not, so a rename back
    // always finds its default free.
    const named = nameDirectory(members, m => this.hashOf(m))
    const renamed: Array<[string, string, Namespace, boolean]> = []
    const add = (name: string, dflt: string, member: Namespace): void => {
      const node = child(member, dflt)
      if (node !== undefined) entries.set(name, node)
    }
    for (const [name, member] of named) {
      if (name !== this.shortName(member)) irregular = true
      const c = chosen.get(nsKey(member))
      if (c !== undefined && c.name !== name) renamed.push([c.name, name, member, c.imported === true])
      else add(name, name, member)
    }
    // A chosen name that is not (or no longer) usable here falls back to
    // the default: the state file may have been edited by hand.
    for (const [name, dflt, member, imported] of renamed) {
      const usable = badNameReason(name) === undefined && (imported || !isReservedName(name)) && name !== SELF_ENTRY &&
        !(key === this.root && name === CONTAINERS_DIR) && !entries.has(name) && !named.has(name)
      if (!usable) irregular = true
      add(usable ? name : dflt, dflt, member)
    }
    if (irregular) this.irregular.add(key)
    else this.irregular.delete(key)
    return entries
  }

  // Keeps `displaced` right for one namespace of `d`.
  private markDisplaced (key: NsKey, ns: Namespace, d: Discovery): void {
    const owner = ns.owner
    if (owner === null || owner === key) return
    let set = this.displaced.get(owner)
    if (isShown(ns, key, d.root) && d.namespaces.has(key) && !d.namespaces.has(owner)) {
      if (set === undefined) this.displaced.set(owner, set = new Set())
      set.add(key)
    } else if (set?.delete(key) === true && set.size === 0) {
      this.displaced.delete(owner)
    }
  }

  private hashOf (ns: Namespace): string {
    return this.hashes.hashOf(nsKey(ns), ns)
  }

  private shortName (ns: Namespace): string {
    return defaultName(ns.type, this.hashOf(ns))
  }

  private link (ns: Namespace, dir: Namespace, defaultName: string): LinkNode {
    return { kind: 'link', ns, dir, defaultName, firstSeen: this.seen(nsKey(ns)) }
  }

  // Every namespace of the discovery being laid out has its first sighting
  // recorded before layout (build and patch both see to it).
  private seen (key: NsKey): number {
    return this.firstSeen.get(key) ?? 0
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
