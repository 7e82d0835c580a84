// The tree: user namespaces are directories, every other namespace is an
// entry in the directory of the user namespace that owns it. Built from one
// discovery and the names chosen with rename(2), and never changed
// afterwards: an update makes a new tree sharing what did not change.
import { holderPath, nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'
import { defaultName, HashBook, nameDirectory } from './names.js'
import { LayeredMap } from './layered-map.js'
import type { DirChange, TreePatch } from './tree-change.js'
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

  constructor (seed: Uint8Array) {
    this.hashes = new HashBook(seed)
  }

  build (discovery: Discovery, chosen: ChosenNames = new Map()): Tree {
    const { namespaces, root } = discovery
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
      return new Patch(this, tree, next, chosen).run(changed)
    } catch (err) {
      if (!(err instanceof CycleError)) throw err
      return { tree: this.build(next, chosen), change: { kind: 'whole' } }
    } finally {
      // Only now: the patch looks the dead up by their names.
      for (const key of changed) {
        if (next.namespaces.has(key)) continue
        this.firstSeen.delete(key)
        this.hashes.forget(key)
      }
    }
  }

  // The entries of one directory: its own handle, then every member by its
  // default name or the name chosen for it. `child` makes a member's node
  // (undefined: leave it out).
  layout (dirNs: Namespace, members: readonly Namespace[], child: (m: Namespace, dflt: string) => Node | undefined, chosen: ChosenNames): Map<string, Node> {
    const key = nsKey(dirNs)
    let irregular = false
    const entries = new Map<string, Node>()
    if (dirNs.holders.length > 0) entries.set(SELF_ENTRY, this.link(dirNs, dirNs, SELF_ENTRY))
    // Every member gets its default name, renamed or not, so a rename back
    // always finds its default free.
    const named = nameDirectory(members, m => this.hashOf(m))
    const renamed: Array<[string, string, Namespace]> = []
    const add = (name: string, dflt: string, member: Namespace): void => {
      const node = child(member, dflt)
      if (node !== undefined) entries.set(name, node)
    }
    for (const [name, member] of named) {
      if (name !== this.shortName(member)) irregular = true
      const chosenName = chosen.get(nsKey(member))?.name
      if (chosenName !== undefined && chosenName !== name) renamed.push([chosenName, name, member])
      else add(name, name, member)
    }
    // A chosen name that is not (or no longer) usable here falls back to
    // the default: the state file may have been edited by hand.
    for (const [name, dflt, member] of renamed) {
      const usable = badNameReason(name) === undefined && !isReservedName(name) && name !== SELF_ENTRY && !entries.has(name) && !named.has(name)
      if (!usable) irregular = true
      add(usable ? name : dflt, dflt, member)
    }
    if (irregular) this.irregular.add(key)
    else this.irregular.delete(key)
    return entries
  }

  isIrregular (dir: NsKey): boolean {
    return this.irregular.has(dir)
  }

  // Keeps `displaced` right for one namespace of `d`.
  markDisplaced (key: NsKey, ns: Namespace, d: Discovery): void {
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

  displacedBy (owner: NsKey): readonly NsKey[] {
    return [...this.displaced.get(owner) ?? []]
  }

  hashOf (ns: Namespace): string {
    return this.hashes.hashOf(nsKey(ns), ns)
  }

  shortName (ns: Namespace): string {
    return defaultName(ns.type, this.hashOf(ns))
  }

  link (ns: Namespace, dir: Namespace, defaultName: string): LinkNode {
    return { kind: 'link', ns, dir, defaultName, firstSeen: this.seen(nsKey(ns)) }
  }

  seen (key: NsKey): number {
    return this.firstSeen.get(key) ?? Date.now()
  }
}

// Where a namespace shows: the directory of its owner, or the root when the
// owner is outside our view (or outside the root's subtree).
function dirOf (ns: Namespace, key: NsKey, d: Discovery): NsKey {
  const owner = ns.owner
  return owner !== null && d.namespaces.has(owner) && owner !== key ? owner : d.root
}

// A non-user namespace with no holder (known only as a parent, or only to
// listns) has nothing to open: it stays out of the tree and shows in the
// metadata only. User namespaces stay, as directories.
function isShown (ns: Namespace, key: NsKey, root: NsKey): boolean {
  return key !== root && (ns.type === 'user' || ns.holders.length > 0)
}

class CycleError extends Error {}

// One patch: the directories that lose, gain or update members are redone,
// deepest first, each from a copy of its entries (or laid out whole when
// irregular or a new name might collide), then every directory above them.
class Patch {
  private readonly prev: Discovery
  // Members to look at again, by the directory that loses or gains them.
  private readonly work = new Map<NsKey, Set<NsKey>>()
  private readonly scheduled = new Set<NsKey>()
  private readonly byDepth: NsKey[][] = []
  private readonly built = new Map<NsKey, DirNode>()
  private readonly located = new Map<NsKey, DirNode | undefined>()
  private readonly changes: DirChange[] = []
  private chosenShorts: Map<NsKey, Set<string>> | undefined

  constructor (
    private readonly b: TreeBuilder,
    private readonly tree: Tree,
    private readonly next: Discovery,
    private readonly chosen: ChosenNames,
  ) {
    this.prev = tree.discovery
  }

  run (changed: ReadonlySet<NsKey>): TreePatch {
    const { prev, next } = this
    for (const key of changed) {
      this.moved(key)
      const was = prev.namespaces.get(key)
      const now = next.namespaces.get(key)
      if (key === next.root && now !== undefined) this.schedule(key)
      // A user namespace that died leaves its members to the root; one that
      // appeared takes those that waited for it there.
      if (was?.type === 'user' && now === undefined) {
        for (const node of this.locate(key, was)?.entries.values() ?? []) {
          if (node.ns !== was) this.moved(nsKey(node.ns))
        }
      }
      if (now?.type === 'user' && was === undefined) for (const m of this.b.displacedBy(key)) this.moved(m)
    }
    for (let depth = this.byDepth.length - 1; depth >= 0; depth--) {
      for (const dir of this.byDepth[depth] ?? []) this.redo(dir)
    }
    const root = this.built.get(next.root) ?? this.tree.root
    return { tree: { root, discovery: next }, change: { kind: 'dirs', dirs: this.changes } }
  }

  private placeOf (key: NsKey, d: Discovery): NsKey | undefined {
    const ns = d.namespaces.get(key)
    return ns !== undefined && isShown(ns, key, d.root) ? dirOf(ns, key, d) : undefined
  }

  private touch (dir: NsKey, key: NsKey): void {
    let set = this.work.get(dir)
    if (set === undefined) this.work.set(dir, set = new Set())
    set.add(key)
    if (this.next.namespaces.has(dir)) this.schedule(dir)
  }

  // A namespace whose place or node may have changed.
  private moved (key: NsKey): void {
    const was = this.placeOf(key, this.prev)
    const now = this.placeOf(key, this.next)
    if (was !== undefined) this.touch(was, key)
    if (now !== undefined) this.touch(now, key)
    const ns = this.next.namespaces.get(key)
    if (ns?.type === 'user' && now !== undefined) this.schedule(key)
    const any = ns ?? this.prev.namespaces.get(key)
    if (any !== undefined) this.b.markDisplaced(key, any, this.next)
  }

  private schedule (dir: NsKey): void {
    if (this.scheduled.has(dir)) return
    this.scheduled.add(dir)
    const depth = this.depth(dir)
    const level = this.byDepth[depth] ?? []
    this.byDepth[depth] = level
    level.push(dir)
  }

  private depth (dir: NsKey): number {
    let depth = 0
    for (let k = dir; k !== this.next.root; depth++) {
      const ns = this.next.namespaces.get(k)
      // Deeper than user namespaces nest (32): a cycle.
      if (ns === undefined || depth > 64) throw new CycleError(`no way from ${dir} to the root`)
      k = dirOf(ns, k, this.next)
    }
    return depth
  }

  // The directory of `key` in the previous tree.
  private locate (key: NsKey, ns: Namespace): DirNode | undefined {
    if (this.located.has(key)) return this.located.get(key)
    let node: DirNode | undefined
    if (key === this.prev.root) {
      node = this.tree.root
    } else {
      const parentKey = this.placeOf(key, this.prev)
      const parentNs = parentKey === undefined ? undefined : this.prev.namespaces.get(parentKey)
      const parent = parentKey === undefined || parentNs === undefined ? undefined : this.locate(parentKey, parentNs)
      const name = parent === undefined ? undefined : this.nameIn(parent, key, ns)
      const found = name === undefined ? undefined : parent?.entries.get(name)
      node = found?.kind === 'dir' ? found : undefined
    }
    this.located.set(key, node)
    return node
  }

  // The name `key` shows as in `dir` of the previous tree: its default or
  // chosen name, else (renamed, then dead or collided) whatever holds it.
  private nameIn (dir: DirNode, key: NsKey, ns: Namespace): string | undefined {
    for (const name of [this.b.shortName(ns), this.chosen.get(key)?.name]) {
      if (name !== undefined && name !== SELF_ENTRY && dir.entries.get(name)?.ns === ns) return name
    }
    for (const [name, node] of dir.entries) if (name !== SELF_ENTRY && nsKey(node.ns) === key) return name
    return undefined
  }

  private redo (dir: NsKey): void {
    const ns = this.next.namespaces.get(dir) as Namespace
    const was = this.prev.namespaces.get(dir)
    const old = was === undefined ? undefined : this.locate(dir, was)
    const members = this.work.get(dir) ?? new Set<NsKey>()
    let names: Set<string> | undefined = new Set()
    let entries = this.b.isIrregular(dir) ? undefined : this.patchEntries(dir, ns, old, members, names)
    if (entries === undefined) {
      names = undefined
      entries = this.layoutWhole(dir, ns, old, members)
    }
    const node: DirNode = {
      kind: 'dir',
      ns,
      defaultName: old?.defaultName ?? (dir === this.next.root ? '' : this.b.shortName(ns)),
      entries,
      firstSeen: this.b.seen(dir),
    }
    this.built.set(dir, node)
    this.changes.push(diff(dir, old?.entries, entries, names))
    if (dir !== this.next.root) this.touch(dirOf(ns, dir, this.next), dir)
  }

  // A copy of the old entries with `members` taken out and put back where
  // they now belong; undefined when a new name might collide (then the
  // directory is laid out whole).
  // `names` gets every name set or deleted.
  private patchEntries (dir: NsKey, ns: Namespace, old: DirNode | undefined, members: ReadonlySet<NsKey>, names: Set<string>): ReadonlyMap<string, Node> | undefined {
    const base: ReadonlyMap<string, Node> = old?.entries ?? new Map()
    // The changes, laid over the old entries at the end (no copy of a large
    // directory per patch).
    const set = new Map<string, Node>()
    const removed = new Set<string>()
    const put = (name: string, node: Node | undefined): void => {
      names.add(name)
      if (node === undefined) {
        set.delete(name)
        removed.add(name)
      } else {
        removed.delete(name)
        set.set(name, node)
      }
    }
    if (ns.holders.length === 0) put(SELF_ENTRY, undefined)
    else if (old?.ns !== ns || !base.has(SELF_ENTRY)) put(SELF_ENTRY, this.b.link(ns, ns, SELF_ENTRY))
    const fresh: Array<[NsKey, Namespace]> = []
    for (const key of members) {
      const was = this.prev.namespaces.get(key)
      const name = old !== undefined && was !== undefined && this.placeOf(key, this.prev) === dir ? this.nameIn(old, key, was) : undefined
      const now = this.next.namespaces.get(key)
      const here = now !== undefined && this.placeOf(key, this.next) === dir
      if (name !== undefined) {
        const prior = base.get(name) as Node
        put(name, here ? this.nodeOf(now, ns, prior.defaultName) : undefined)
        if (here) continue
      }
      if (here) fresh.push([key, now])
    }
    for (const [key, now] of fresh) {
      const short = this.b.shortName(now)
      const taken = set.has(short) || (!removed.has(short) && base.has(short))
      if (this.chosen.has(key) || taken || this.shortsChosenIn(dir).has(short)) return undefined
      put(short, this.nodeOf(now, ns, short))
    }
    return LayeredMap.with(base, set, removed)
  }

  // Every member again, through the builder's own layout.
  private layoutWhole (dir: NsKey, ns: Namespace, old: DirNode | undefined, members: ReadonlySet<NsKey>): ReadonlyMap<string, Node> {
    const keys = new Set<NsKey>(members)
    for (const [name, node] of old?.entries ?? []) if (name !== SELF_ENTRY) keys.add(nsKey(node.ns))
    const list: Namespace[] = []
    for (const key of keys) {
      const now = this.next.namespaces.get(key)
      if (now !== undefined && this.placeOf(key, this.next) === dir) list.push(now)
    }
    return this.b.layout(ns, list, (m, dflt) => this.nodeOf(m, ns, dflt), this.chosen)
  }

  // A member's node: a fresh link, or the directory redone below (else
  // kept from the previous tree), with the default name it has here.
  private nodeOf (member: Namespace, dir: Namespace, dflt: string): Node | undefined {
    if (member.type !== 'user') return this.b.link(member, dir, dflt)
    const key = nsKey(member)
    const node = this.built.get(key) ?? this.locate(key, member)
    if (node === undefined) return undefined
    return node.defaultName === dflt ? node : { ...node, defaultName: dflt }
  }

  // The short default names of the members of `dir` that show a chosen
  // name instead: a new member's short name must not collide with those.
  private shortsChosenIn (dir: NsKey): Set<string> {
    if (this.chosenShorts === undefined) {
      this.chosenShorts = new Map()
      for (const key of this.chosen.keys()) {
        const ns = this.next.namespaces.get(key)
        const place = this.placeOf(key, this.next)
        if (ns === undefined || place === undefined) continue
        let set = this.chosenShorts.get(place)
        if (set === undefined) this.chosenShorts.set(place, set = new Set())
        set.add(this.b.shortName(ns))
      }
    }
    return this.chosenShorts.get(dir) ?? new Set()
  }
}

// What differs between a directory's old and new entries, looking at the
// names given (those a patch touched), or at all of them.
function diff (dir: NsKey, before: ReadonlyMap<string, Node> | undefined, after: ReadonlyMap<string, Node>, names: Iterable<string> | undefined): DirChange {
  const removed: string[] = []
  const added: string[] = []
  const changed: string[] = []
  const all = new Set(names ?? [...before?.keys() ?? [], ...after.keys()])
  for (const name of all) {
    const a = before?.get(name)
    const b = after.get(name)
    if (a === b) continue
    if (a === undefined) added.push(name)
    else if (b === undefined) removed.push(name)
    else if (nsKey(a.ns) !== nsKey(b.ns) || firstHolder(a) !== firstHolder(b)) changed.push(name)
  }
  return { dir, removed, added, changed }
}

function firstHolder (node: Node): string | undefined {
  const h = node.ns.holders[0]
  return h === undefined ? undefined : holderPath(h, node.ns.type)
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
