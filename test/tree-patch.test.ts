// A tree patched delta by delta must equal the tree built whole from each
// discovery, and the change it reports must be exactly what differs.
import t from 'tap'
import { applyDelta, changedKeys, type DiscoveryDelta } from '../src/model/discovery-delta.js'
import { nsKey, type Discovery, type Namespace, type NsKey, type NsType } from '../src/model/namespace.js'
import type { TreeChange } from '../src/model/tree-change.js'
import { TreeBuilder, withEntryRenamed } from '../src/model/tree.js'
import { SELF_ENTRY, type ChosenNames, type DirNode, type Node, type Tree } from '../src/model/tree-node.js'
import { ns, task } from './lib/snapshot.js'

const seed = Buffer.from('5eed', 'hex')
const ROOT = ns('user', 1, { ownerUid: 0 })

// Everything a reader of the tree can see, keyed by name.
function shape (node: Node): unknown {
  const common = { kind: node.kind, key: nsKey(node.ns), ns: node.ns, defaultName: node.defaultName, firstSeen: node.firstSeen }
  if (node.kind === 'link') return { ...common, dir: nsKey(node.dir) }
  return { ...common, entries: Object.fromEntries([...node.entries].map(([name, n]) => [name, shape(n)]).sort()) }
}

// Directory key → entry name → namespace key, for every directory.
function listing (tree: Tree): Map<NsKey, Map<string, string>> {
  const out = new Map<NsKey, Map<string, string>>()
  const visit = (dir: DirNode): void => {
    const names = new Map<string, string>()
    for (const [name, node] of dir.entries) {
      const first = node.ns.holders[0]
      names.set(name, `${nsKey(node.ns)} ${first === undefined ? '' : JSON.stringify(first)}`)
      if (node.kind === 'dir') visit(node)
    }
    out.set(nsKey(dir.ns), names)
  }
  visit(tree.root)
  return out
}

// Checks `change` against what really differs between two trees.
function checkChange (t: { same: (found: unknown, wanted: unknown, message: string) => boolean }, before: Tree, after: Tree, change: TreeChange, step: number): void {
  if (change.kind === 'whole') return
  const a = listing(before)
  const b = listing(after)
  const reported = new Map(change.dirs.map(d => [d.dir, d]))
  for (const [dir, names] of b) {
    const old = a.get(dir) ?? new Map<string, string>()
    const removed = [...old.keys()].filter(n => !names.has(n)).sort()
    const added = [...names.keys()].filter(n => !old.has(n)).sort()
    const changed = [...names.keys()].filter(n => old.has(n) && old.get(n) !== names.get(n)).sort()
    const r = reported.get(dir)
    if (removed.length + added.length + changed.length === 0 && r === undefined) continue
    t.same({ removed: [...r?.removed ?? []].sort(), added: [...r?.added ?? []].sort(), changed: [...r?.changed ?? []].sort() }, { removed, added, changed }, `step ${step}: change of ${dir}`)
  }
}

// A small deterministic PRNG (mulberry32).
function rng (s: number): () => number {
  return () => {
    s |= 0; s = s + 0x6D2B79F5 | 0
    let x = Math.imul(s ^ s >>> 15, 1 | s)
    x = x + Math.imul(x ^ x >>> 7, 61 | x) ^ x
    return ((x ^ x >>> 14) >>> 0) / 4294967296
  }
}

// A random change to `live`: namespaces born, dying, gaining or losing
// holders; user namespaces nest, and some owners are outside the view.
function mutate (live: Map<NsKey, Namespace>, rand: () => number, nextId: () => number): void {
  const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rand() * xs.length)]
  const users = [...live.values()].filter(n => n.type === 'user').map(nsKey)
  const ops = 1 + Math.floor(rand() * 4)
  for (let i = 0; i < ops; i++) {
    const r = rand()
    if (r < 0.45) {
      const type = pick(['net', 'uts', 'ipc', 'user', 'pid'] as NsType[]) as NsType
      // Now and then an owner not (yet) in the discovery.
      const owner = rand() < 0.1 ? `user:${900 + Math.floor(rand() * 3)}` as NsKey : pick(users) ?? nsKey(ROOT)
      const holders = rand() < 0.2 ? [] : [task(Math.floor(rand() * 1000) + 2)]
      const n = ns(type, nextId(), { owner, parent: type === 'user' ? owner : null, holders })
      live.set(nsKey(n), n)
      // The owner outside the view may show up later, as a user namespace.
      if (owner.startsWith('user:9') && !live.has(owner) && rand() < 0.3) {
        const u = ns('user', Number(owner.split(':')[1]), { owner: nsKey(ROOT), parent: nsKey(ROOT) })
        live.set(owner, u)
      }
    } else if (r < 0.75) {
      const key = pick([...live.keys()].filter(k => k !== nsKey(ROOT)))
      if (key !== undefined) live.delete(key)
    } else {
      const key = pick([...live.keys()])
      const n = key === undefined ? undefined : live.get(key)
      if (key !== undefined && n !== undefined) {
        const holders = n.holders.length > 0 && rand() < 0.4 ? [] : [task(Math.floor(rand() * 1000) + 2), ...n.holders].slice(0, 3)
        live.set(key, { ...n, holders })
      }
    }
  }
}

function deltaBetween (a: Discovery, b: Discovery): DiscoveryDelta {
  const upserted = [...b.namespaces.values()].filter(n => a.namespaces.get(nsKey(n)) !== n)
  const removed = [...a.namespaces.keys()].filter(k => !b.namespaces.has(k))
  return { root: b.root, upserted, removed, scannedAt: b.scannedAt, durationMs: 1 }
}

for (const seedNo of [1, 2, 3, 4, 5, 6, 7, 8]) {
  t.test(`random deltas (seed ${seedNo}): patched equals built whole`, async t => {
    const rand = rng(seedNo)
    let id = 10
    const live = new Map<NsKey, Namespace>([[nsKey(ROOT), ROOT]])
    for (let i = 0; i < 12; i++) mutate(live, rand, () => id++)
    const whole = new TreeBuilder(seed)
    const patcher = new TreeBuilder(seed)
    let d: Discovery = { root: nsKey(ROOT), namespaces: new Map(live), scannedAt: 1000, durationMs: 1 }
    // Chosen names, some usable, some not (reserved, taken twice).
    const keys = [...live.keys()].filter(k => k !== nsKey(ROOT))
    const chosen: ChosenNames = new Map([
      [keys[0] as NsKey, { name: 'web' }],
      [keys[1] as NsKey, { name: SELF_ENTRY }],
      [keys[2] as NsKey, { name: 'db' }],
      [keys[3] as NsKey, { name: 'db' }],
    ])
    let patched = patcher.build(d, chosen)
    whole.build(d, chosen)
    for (let step = 1; step <= 60; step++) {
      mutate(live, rand, () => id++)
      const next: Discovery = { root: nsKey(ROOT), namespaces: new Map(live), scannedAt: 1000 + step, durationMs: 1 }
      const delta = deltaBetween(d, next)
      const applied = applyDelta(d, delta)
      t.same([...applied.namespaces].sort(), [...next.namespaces].sort(), `step ${step}: the delta gives the next discovery`)
      const live2 = new Map([...chosen].filter(([k]) => next.namespaces.has(k)))
      const { tree, change } = patcher.patch(patched, applied, changedKeys(delta), live2)
      const built = whole.build(applied, live2)
      if (!t.same(shape(tree.root), shape(built.root), `step ${step}: same tree`)) break
      checkChange(t, patched, tree, change, step)
      patched = tree
      d = applied
    }
  })
}

t.test('a change names the directory and the entry', async t => {
  const child = ns('user', 2, { owner: nsKey(ROOT), parent: nsKey(ROOT) })
  const net = ns('net', 3, { owner: nsKey(ROOT) })
  const b = new TreeBuilder(seed)
  const d0: Discovery = { root: nsKey(ROOT), namespaces: new Map([[nsKey(ROOT), ROOT], [nsKey(child), child], [nsKey(net), net]]), scannedAt: 1, durationMs: 1 }
  const tree = b.build(d0)
  const uts = ns('uts', 4, { owner: nsKey(child) })
  const moved = { ...net, holders: [task(77)] }
  const delta: DiscoveryDelta = { root: nsKey(ROOT), upserted: [uts, moved], removed: [], scannedAt: 2, durationMs: 1 }
  const { tree: next, change } = b.patch(tree, applyDelta(d0, delta), changedKeys(delta))
  t.equal(change.kind, 'dirs')
  const dirs = change.kind === 'dirs' ? new Map(change.dirs.map(c => [c.dir, c])) : new Map()
  const netName = [...next.root.entries].find(([, n]) => n.ns === moved)?.[0]
  t.same(dirs.get(nsKey(ROOT)), { dir: nsKey(ROOT), removed: [], added: [], changed: [netName] }, 'a new first holder')
  t.match(dirs.get(nsKey(child)), { added: [/^uts-/], removed: [], changed: [] }, 'a new entry')
  t.equal(next.root.entries.get(SELF_ENTRY), tree.root.entries.get(SELF_ENTRY), 'what did not change is shared')
  t.equal(next.discovery.namespaces.get(nsKey(uts))?.holders.length, 1)
  t.equal(next.root.entries.get(netName as string)?.firstSeen, 1, 'first seen kept')
})

t.test('a renamed entry that dies is found and removed; another root means a whole build', async t => {
  const net = ns('net', 3, { owner: nsKey(ROOT) })
  const b = new TreeBuilder(seed)
  const d0: Discovery = { root: nsKey(ROOT), namespaces: new Map([[nsKey(ROOT), ROOT], [nsKey(net), net]]), scannedAt: 1, durationMs: 1 }
  const built = b.build(d0)
  const name = [...built.root.entries.keys()].find(n => n.startsWith('net-')) as string
  const renamed = withEntryRenamed(built, `/${name}`, 'web')
  const gone: DiscoveryDelta = { root: nsKey(ROOT), upserted: [], removed: [nsKey(net)], scannedAt: 2, durationMs: 1 }
  const { tree, change } = b.patch(renamed, applyDelta(d0, gone), changedKeys(gone))
  t.same([...tree.root.entries.keys()], [SELF_ENTRY])
  t.match(change, { kind: 'dirs', dirs: [{ removed: ['web'] }] })
  const other = ns('user', 5)
  const moved: Discovery = { ...d0, root: nsKey(other), namespaces: new Map([...d0.namespaces, [nsKey(other), other]]) }
  t.same(b.patch(tree, moved, new Set([nsKey(other)])).change, { kind: 'whole' })
})

t.test('a cycle of owners (a bad snapshot) falls back to a whole build', async t => {
  const b = new TreeBuilder(seed)
  const d0: Discovery = { root: nsKey(ROOT), namespaces: new Map([[nsKey(ROOT), ROOT]]), scannedAt: 1, durationMs: 1 }
  const tree = b.build(d0)
  const u2 = ns('user', 2, { owner: 'user:3' })
  const u3 = ns('user', 3, { owner: 'user:2' })
  const delta: DiscoveryDelta = { root: nsKey(ROOT), upserted: [u2, u3], removed: [], scannedAt: 2, durationMs: 1 }
  const next = applyDelta(d0, delta)
  const patched = b.patch(tree, next, changedKeys(delta))
  t.same(patched.change, { kind: 'whole' })
  const ref = new TreeBuilder(seed)
  ref.build(d0)
  t.same(shape(patched.tree.root), shape(ref.build(next).root), 'as built whole: the cycle is left out')
})
