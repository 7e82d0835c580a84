// Patching a tree: the directories that lose, gain or update members are
// redone, deepest first, each from a copy of its entries (or laid out whole
// when irregular or a new name might collide), then every directory above
// them. The result equals a tree built whole from the same discovery, and
// says what changed (TreeChange) for whoever caches what the tree shows.
import { LayeredMap } from './layered-map.js'
import { holderPath, nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'
import type { DirChange, TreeChange } from './tree-change.js'
import { dirOf, isShown, SELF_ENTRY, type ChosenNames, type DirNode, type LinkNode, type Node, type Tree } from './tree-node.js'

export interface TreePatch {
  readonly tree: Tree
  readonly change: TreeChange
}

// What a patch needs of the builder that made the previous tree: its
// names, first sightings and layout rules, and the namespaces waiting at
// the root for their owner to appear.
export interface PatchContext {
  readonly shortName: (ns: Namespace) => string
  readonly link: (ns: Namespace, dir: Namespace, defaultName: string) => LinkNode
  readonly seen: (key: NsKey) => number
  readonly layout: (dirNs: Namespace, members: readonly Namespace[], child: (m: Namespace, dflt: string) => Node | undefined, chosen: ChosenNames) => Map<string, Node>
  readonly isIrregular: (dir: NsKey) => boolean
  readonly markDisplaced: (key: NsKey, ns: Namespace, d: Discovery) => void
  readonly displacedBy: (owner: NsKey) => readonly NsKey[]
}

// Thrown when the discovery's owners form a cycle: the caller builds whole.
export class CycleError extends Error {}

// `tree` brought to `next`, of which only the namespaces in `changed`
// differ from `tree.discovery`.
export function patchTree (builder: PatchContext, tree: Tree, next: Discovery, changed: ReadonlySet<NsKey>, chosen: ChosenNames): TreePatch {
  return new Patch(builder, tree, next, chosen).run(changed)
}

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
    private readonly builder: PatchContext,
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
      if (now?.type === 'user' && was === undefined) for (const m of this.builder.displacedBy(key)) this.moved(m)
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
    if (any !== undefined) this.builder.markDisplaced(key, any, this.next)
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
    for (const name of [this.builder.shortName(ns), this.chosen.get(key)?.name]) {
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
    let entries = this.builder.isIrregular(dir) ? undefined : this.patchEntries(dir, ns, old, members, names)
    if (entries === undefined) {
      names = undefined
      entries = this.layoutWhole(dir, ns, old, members)
    }
    const node: DirNode = {
      kind: 'dir',
      ns,
      defaultName: old?.defaultName ?? (dir === this.next.root ? '' : this.builder.shortName(ns)),
      entries,
      firstSeen: this.builder.seen(dir),
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
    else if (old?.ns !== ns || !base.has(SELF_ENTRY)) put(SELF_ENTRY, this.builder.link(ns, ns, SELF_ENTRY))
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
      const short = this.builder.shortName(now)
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
    return this.builder.layout(ns, list, (m, dflt) => this.nodeOf(m, ns, dflt), this.chosen)
  }

  // A member's node: a fresh link, or the directory redone below (else
  // kept from the previous tree), with the default name it has here.
  private nodeOf (member: Namespace, dir: Namespace, dflt: string): Node | undefined {
    if (member.type !== 'user') return this.builder.link(member, dir, dflt)
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
        set.add(this.builder.shortName(ns))
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
