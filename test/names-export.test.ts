// Names across a checkpoint/restore, on hand-built snapshots: the export's
// locators and validation, and the import's plan against a tree of the
// restored container. No root needed.
import t from 'tap'
import { NsfsError } from '../src/errors.js'
import { planImport, type ImportRequest } from '../src/model/import-plan.js'
import { allMetadata } from '../src/model/metadata.js'
import { buildExport, describeLocator, formatExport, initCandidates, parseExport, type ContainerProcess, type NsLink } from '../src/model/names-export.js'
import { nsKey, type Namespace, type NsKey } from '../src/model/namespace.js'
import type { NameEntry, Overlay } from '../src/model/overlay.js'
import { TreeBuilder } from '../src/model/tree.js'
import { lookup, type ChosenNames, type Tree } from '../src/model/tree-node.js'
import { discovery, ns, task } from './lib/snapshot.js'
import { parseOverlayFile, formatOverlayFile } from '../src/store/overlay-store.js'

const SEED = Buffer.from('a1b2c3d4', 'hex')

// A host (user:1, with cgroup:2 that the container shares) and a container
// started as `unshare -Ur -p -n -u -m --fork sh -c 'unshare -Ur -n sleep & exec sleep'`:
// the unshare (host pid 100) and init (101, pid 1 inside) are in user C,
// the nested sleep (102, pid 2 inside) in user N with its own net. `base`
// spreads the ids of one run from another's.
function container (base: number): { all: Namespace[], procs: ContainerProcess[], keys: Record<string, NsKey> } {
  const h = (pid: number): ReturnType<typeof task> => task(base + pid)
  const C = ns('user', base + 10, { owner: 'user:1', parent: 'user:1', holders: [h(100), h(101)] })
  const net = ns('net', base + 11, { owner: nsKey(C), holders: [h(100), h(101)] })
  const uts = ns('uts', base + 12, { owner: nsKey(C), holders: [h(100), h(101), h(102)] })
  const pid = ns('pid', base + 14, { owner: nsKey(C), parent: 'pid:3', holders: [h(101), h(102)] })
  const N = ns('user', base + 15, { owner: nsKey(C), parent: nsKey(C), holders: [h(102)] })
  const inner = ns('net', base + 16, { owner: nsKey(N), holders: [h(102)] })
  // Known only as the owner of nothing held: a user namespace kept alive by
  // a child user namespace, which no process is in.
  const all = [C, net, uts, pid, N, inner]
  const links = (m: Record<string, Namespace>): Map<NsLink, number> => new Map(Object.entries(m).map(([l, n]) => [l as NsLink, n.ino]))
  const procs: ContainerProcess[] = [
    { hostPid: base + 101, cpid: 1, links: links({ user: C, net, uts, pid, pid_for_children: pid, cgroup: CGROUP }), fds: [] },
    { hostPid: base + 102, cpid: 2, links: links({ user: N, net: inner, uts, pid, cgroup: CGROUP }), fds: [] },
  ]
  return { all, procs, keys: { C: nsKey(C), net: nsKey(net), uts: nsKey(uts), pid: nsKey(pid), N: nsKey(N), inner: nsKey(inner) } }
}

const ROOT = ns('user', 1, { holders: [task(2)] })
const CGROUP = ns('cgroup', 2, { owner: 'user:1', holders: [task(2)] })
const HOSTPID = ns('pid', 3, { owner: 'user:1', holders: [task(2)] })

function named (entries: Array<[NsKey, string]>): ChosenNames {
  return new Map(entries.map(([k, name]) => [k, { name }]))
}

function treeOf (base: number, chosen: ChosenNames = new Map(), more: Namespace[] = []): { tree: Tree, c: ReturnType<typeof container> } {
  const c = container(base)
  return { tree: new TreeBuilder(SEED).build(discovery(ROOT, [CGROUP, HOSTPID, ...c.all, ...more]), chosen), c }
}

// The path of each key in `tree`.
function pathOf (tree: Tree, key: NsKey): string | undefined {
  return allMetadata(tree).find(m => m.key === key)?.path ?? undefined
}

t.test('export: every namespace under the directory by its role, shared ones external', async t => {
  const first = container(1000)
  const { tree, c } = treeOf(1000, named([[first.keys.C as NsKey, 'ctr'], [first.keys.net as NsKey, 'web-net'], [first.keys.N as NsKey, 'inner']]))
  const records = allMetadata(tree)
  t.same(initCandidates(records, '/ctr'), [1101, 1102], 'the processes of the top pid namespace')
  const { doc, unlocated } = buildExport({ dir: '/ctr', records, processes: c.procs, now: new Date(0) })
  t.same(doc.top, { name: 'ctr', locator: { kind: 'process', pid: 1, link: 'user' } })
  const byPath = new Map(doc.namespaces.map(n => [n.path, n]))
  t.same(byPath.get('web-net')?.locator, { kind: 'process', pid: 1, link: 'net' }, 'the renamed net')
  t.same(byPath.get('inner')?.locator, { kind: 'process', pid: 2, link: 'user' }, 'the nested user namespace')
  const innerNet = doc.namespaces.find(n => n.path.startsWith('inner/net-'))
  t.same(innerNet?.locator, { kind: 'process', pid: 2, link: 'net' }, 'a default name below it, by the nested pid')
  t.same(byPath.get(pathOf(tree, c.keys.uts as NsKey)?.slice(5) ?? '')?.locator, { kind: 'process', pid: 1, link: 'uts' }, 'the lowest pid wins')
  t.same(doc.external, [{ type: 'cgroup', path: pathOf(tree, nsKey(CGROUP)), locator: { kind: 'process', pid: 1, link: 'cgroup' } }])
  t.same(unlocated, [])
  t.equal(doc.namespaces.length, 5)
  t.same(parseExport(formatExport(doc)), doc, 'what is written reads back')
})

t.test('export: what no process is in is found as an owner or parent', async t => {
  const c = container(2000)
  // user:2050 is in no process, but owns the nested user namespace: put it
  // between the container's user namespace and N.
  const mid = ns('user', 2050, { owner: c.keys.C as NsKey, parent: c.keys.C as NsKey, holders: [] })
  const N = c.all.find(n => nsKey(n) === c.keys.N) as Namespace
  const all = c.all.map(n => n === N ? { ...N, owner: nsKey(mid), parent: nsKey(mid) } : n)
  const tree = new TreeBuilder(SEED).build(discovery(ROOT, [CGROUP, HOSTPID, mid, ...all]), named([[c.keys.C as NsKey, 'ctr'], [nsKey(mid), 'mid']]))
  const { doc } = buildExport({ dir: '/ctr', records: allMetadata(tree), processes: c.procs })
  const m = doc.namespaces.find(n => n.path === 'mid')
  t.same(m?.locator, { kind: 'owner', of: { kind: 'process', pid: 2, link: 'user' } })
  t.equal(describeLocator(m?.locator ?? { kind: 'fd', pid: 1, fd: 0 }), 'the owner of user of pid 2')
})

t.test('export: an fd and for-children hold too; what nothing reaches is reported', async t => {
  const c = container(3000)
  const byFd = ns('net', 3020, { owner: c.keys.C as NsKey, holders: [{ kind: 'fd', pid: 3101, fd: 7, start: 1 }] })
  const lone = ns('ipc', 3021, { owner: c.keys.C as NsKey, holders: [task(3100)] })
  const tree = new TreeBuilder(SEED).build(discovery(ROOT, [CGROUP, HOSTPID, ...c.all, byFd, lone]), named([[c.keys.C as NsKey, 'ctr']]))
  const procs = c.procs.map(p => p.cpid === 1 ? { ...p, fds: [{ fd: 7, type: 'net' as const, ino: byFd.ino }] } : p)
  const { doc, unlocated } = buildExport({ dir: '/ctr', records: allMetadata(tree), processes: procs })
  t.same(doc.namespaces.find(n => n.path === pathOf(tree, nsKey(byFd))?.slice(5))?.locator, { kind: 'fd', pid: 1, fd: 7 })
  t.same(unlocated, [pathOf(tree, nsKey(lone))?.slice(5)], 'held only by a process outside the container')
})

t.test('export refuses what is no container directory', async t => {
  const { tree, c } = treeOf(4000, named([[container(4000).keys.C as NsKey, 'ctr']]))
  const records = allMetadata(tree)
  t.throws(() => buildExport({ dir: '/nope', records, processes: c.procs }), /no such directory/)
  t.throws(() => buildExport({ dir: '/ctr/' + (pathOf(tree, c.keys.net as NsKey) ?? '').split('/')[2], records, processes: c.procs }), /not a directory/)
  t.throws(() => buildExport({ dir: '/ctr', records, processes: c.procs.filter(p => p.cpid !== 1) }), /no pid 1/)
  t.throws(() => buildExport({ dir: '/ctr', records, processes: c.procs.map(p => ({ ...p, links: new Map() })) }), /no process of the container/)
  t.throws(() => initCandidates(records, pathOf(tree, c.keys.N as NsKey) ?? ''), /no pid namespace/)
})

t.test('parseExport: one line for a truncated, foreign or newer file', async t => {
  const { tree, c } = treeOf(5000, named([[container(5000).keys.C as NsKey, 'ctr']]))
  const text = formatExport(buildExport({ dir: '/ctr', records: allMetadata(tree), processes: c.procs }).doc)
  const doc = JSON.parse(text) as Record<string, unknown>
  const bad = (v: unknown): string => {
    try { parseExport(typeof v === 'string' ? v : JSON.stringify(v)); return 'parsed' } catch (err) { return (err as Error).message }
  }
  t.match(bad(text.slice(0, 200)), /^not JSON \(truncated\?\)/)
  t.match(bad({ format: 'nsfs-names', version: 1 }), /not an nsfs-names-export document/)
  t.match(bad([]), /not an nsfs-names-export/)
  t.match(bad({ ...doc, version: 2 }), /version 2 is newer than this nsfs reads \(1\)/)
  t.match(bad({ ...doc, version: 0 }), /unknown version 0/)
  t.match(bad({ ...doc, version: '1' }), /no version/)
  t.match(bad({ ...doc, exportedAt: 1 }), /no exportedAt/)
  t.match(bad({ ...doc, top: null }), /no top/)
  t.match(bad({ ...doc, top: { name: 'a/b', locator: { kind: 'process', pid: 1, link: 'user' } } }), /top: bad name/)
  t.match(bad({ ...doc, top: { name: 'x', locator: { kind: 'process', pid: 0, link: 'user' } } }), /top.locator: bad pid/)
  t.match(bad({ ...doc, top: { name: 'x', locator: { kind: 'process', pid: 1, link: 'netns' } } }), /bad link/)
  t.match(bad({ ...doc, top: { name: 'x', locator: { kind: 'fd', pid: 1, fd: -1 } } }), /bad fd/)
  t.match(bad({ ...doc, top: { name: 'x', locator: { kind: 'mount', pid: 1, path: 'rel' } } }), /bad path/)
  t.match(bad({ ...doc, top: { name: 'x', locator: { kind: 'owner', of: 3 } } }), /top.locator.of: not an object/)
  t.match(bad({ ...doc, top: { name: 'x', locator: { kind: 'sibling' } } }), /unknown kind/)
  t.match(bad({ ...doc, namespaces: {} }), /no namespaces array/)
  t.match(bad({ ...doc, namespaces: [3] }), /namespaces\[0\]: not an object/)
  t.match(bad({ ...doc, namespaces: [{ type: 'net', locator: null }] }), /no path/)
  t.match(bad({ ...doc, namespaces: [{ path: 'a//b', type: 'net', locator: null }] }), /bad path/)
  t.match(bad({ ...doc, namespaces: [{ path: 'a', type: 'netns', locator: null }] }), /bad type/)
  t.match(bad({ ...doc, namespaces: [{ path: 'a', type: 'net', locator: null }, { path: 'a', type: 'net', locator: null }] }), /listed twice/)
  t.match(bad({ ...doc, namespaces: [{ path: 'a', type: 'net', locator: null }, { path: 'a/b', type: 'net', locator: null }] }), /not a user namespace of the document/)
  t.match(bad({ ...doc, external: null }), /no external array/)
  t.match(bad({ ...doc, external: [1] }), /external\[0\]: not an object/)
  t.match(bad({ ...doc, external: [{ type: 'ipc', path: 3, locator: {} }] }), /external\[0\]: bad path/)
  t.equal(bad({ ...doc, namespaces: [{ path: 'u', type: 'user', locator: { kind: 'parent', of: { kind: 'fd', pid: 2, fd: 3 } } }, { path: 'u/n', type: 'net', locator: { kind: 'mount', pid: 2, path: '/run/x' } }] }), 'parsed')
  for (const line of [bad(text.slice(0, 200)), bad({ ...doc, version: 2 })]) t.notOk(line.includes('\n'), 'one line')
})

// The restored container: the same roles as run 1000, new namespaces with
// new ids (and so new default names).
function restore (): { tree: Tree, c: ReturnType<typeof container>, req: ImportRequest, exported: Tree } {
  const keys = container(1000).keys
  const { tree: exported, c: old } = treeOf(1000, named([[keys.C as NsKey, 'ctr'], [keys.net as NsKey, 'web-net'], [keys.N as NsKey, 'inner']]))
  const { doc } = buildExport({ dir: '/ctr', records: allMetadata(exported), processes: old.procs })
  const { tree, c } = treeOf(7000)
  // What `nsfs names import` resolves: here, the same role in run 7000.
  const role = new Map<string, NsKey>([['1:user', c.keys.C as NsKey], ['1:net', c.keys.net as NsKey], ['1:uts', c.keys.uts as NsKey], ['1:pid', c.keys.pid as NsKey], ['2:user', c.keys.N as NsKey], ['2:net', c.keys.inner as NsKey]])
  const resolve = (l: unknown): NsKey => {
    const p = l as { pid: number, link: string }
    return role.get(`${p.pid}:${p.link}`) as NsKey
  }
  const req: ImportRequest = { top: { key: resolve(doc.top.locator), name: doc.top.name }, entries: doc.namespaces.map(n => ({ key: resolve(n.locator), path: n.path })) }
  return { tree, c, req, exported }
}

function apply (tree: Tree, overlay: Overlay): Tree {
  return new TreeBuilder(SEED).build(tree.discovery, overlay)
}

t.test('import: every path comes back, defaults included, onto the new namespaces', async t => {
  const { tree, c, req, exported } = restore()
  const plan = planImport(tree, new Map(), req, () => true)
  const after = apply(tree, plan.overlay)
  const oldPaths = allMetadata(exported).map(m => m.path).filter((p): p is string => p?.startsWith('/ctr') === true).sort()
  t.same([...plan.paths].sort(), oldPaths, 'the same paths as exported')
  for (const [role, key] of Object.entries(c.keys)) {
    const p = pathOf(after, key)
    t.ok(p !== undefined && oldPaths.includes(p), `${role} shows at an exported path (${p ?? '-'})`)
  }
  t.equal(lookup(after, '/ctr/web-net')?.ns.id, c.keys.net?.slice(4))
  const imported = [...plan.overlay.values()].filter(e => e.imported === true)
  t.equal(imported.length, 3, 'the three old default names are marked imported')
  t.same(planImport(after, plan.overlay, req, () => true).overlay, plan.overlay, 'importing again onto the same namespaces changes nothing')
  const uts = c.keys.uts as NsKey
  const ownDefault = (pathOf(tree, uts) ?? '').split('/').pop() ?? ''
  const back = planImport(after, plan.overlay, { ...req, entries: req.entries.map(e => e.key === uts ? { ...e, path: ownDefault } : e) }, () => true)
  t.notOk(back.overlay.has(uts), 'a namespace given its own default name keeps no entry')
  // Durable: the state file keeps the mark, and only such a name may have
  // the reserved shape.
  const file = parseOverlayFile(formatOverlayFile({ bootId: 'b', names: plan.overlay }))
  t.same(file.names, plan.overlay)
  const one = imported[0] as NameEntry
  const text = formatOverlayFile({ bootId: 'b', names: new Map([[one.key, { ...one, imported: undefined }]]) })
  t.throws(() => parseOverlayFile(text), /reserved/)
  t.throws(() => parseOverlayFile(text.replace('"path"', '"imported": false, "path"')), /imported is not true/)
  // Without the mark the builder gives the namespace its own default back.
  const unmarked = new TreeBuilder(SEED).build(tree.discovery, new Map([[one.key, { name: one.name }]]))
  t.not(pathOf(unmarked, one.key)?.endsWith(`/${one.name}`), true)
})

t.test('import: restored twice is refused whole, unless --as names the top', async t => {
  const { tree, req } = restore()
  const first = planImport(tree, new Map(), req, () => true)
  // A second restore of the same dump: run 8000 beside the first.
  const twice = container(8000)
  const both = new TreeBuilder(SEED).build(discovery(ROOT, [CGROUP, HOSTPID, ...container(7000).all, ...twice.all]), first.overlay)
  const map = new Map<NsKey, NsKey>(Object.entries(container(7000).keys).map(([role, k]) => [k, twice.keys[role] as NsKey]))
  const again: ImportRequest = { top: { key: map.get(req.top.key) as NsKey, name: 'ctr' }, entries: req.entries.map(e => ({ key: map.get(e.key) as NsKey, path: e.path })) }
  t.throws(() => planImport(both, first.overlay, again, () => true), { code: 'EEXIST', message: /^\/ctr exists/ })
  const as = planImport(both, first.overlay, { ...again, top: { ...again.top, name: 'ctr2' } }, () => true)
  t.same(as.paths.map(p => p.replace('/ctr2', '/ctr')).sort(), [...first.paths].sort(), 'the same layout under ctr2')
  for (const e of first.overlay.values()) t.same(as.overlay.get(e.key), e, 'the first restore keeps its names')
})

t.test('import refuses what does not fit, changing nothing', async t => {
  const { tree, req } = restore()
  const code = (r: ImportRequest, admin = true): string => {
    try { planImport(tree, new Map(), r, () => admin); return 'planned' } catch (err) { return err instanceof NsfsError ? `${err.code} ${err.message}` : String(err) }
  }
  t.match(code({ ...req, top: { ...req.top, key: 'user:999' } }), /^ENOENT the restored user namespace \(user:999\) is not in the tree \(yet\)/)
  t.match(code({ ...req, entries: [...req.entries, { key: 'net:999', path: 'x' }] }), /^ENOENT x \(net:999\) is not in the tree/)
  t.match(code({ ...req, entries: [...req.entries, { key: req.top.key, path: 'again' }] }), /^EINVAL \. and again are one namespace/)
  const net = req.entries.find(e => e.path === 'web-net') as { key: NsKey, path: string }
  t.match(code({ ...req, top: { ...req.top, key: net.key }, entries: [] }), /^ENOTDIR the restored top is no user namespace/)
  t.match(code({ ...req, entries: req.entries.map(e => e === net ? { ...e, path: 'inner/web-net' } : e) }), /^EINVAL inner\/web-net: the restored namespace is not in the directory the export had it in/)
  t.match(code({ ...req, entries: req.entries.map(e => e === net ? { ...e, path: 'user' } : e) }), /^EINVAL 'user' is reserved/)
  t.match(code({ ...req, entries: req.entries.map(e => e === net ? { ...e, path: '.nsfs.json' } : e) }), /^EINVAL the directory's metadata file/)
  t.match(code({ ...req, top: { ...req.top, name: 'a\u0001' } }), /^EINVAL the name contains a control character/)
  const uts = req.entries.find(e => e.path.startsWith('uts-')) as { key: NsKey, path: string }
  t.match(code({ ...req, entries: req.entries.map(e => e === net ? { ...e, path: uts.path } : e) }), /^EEXIST \/ctr\/uts-/, 'two entries for one name')
  t.match(code(req, false), /^EACCES naming needs CAP_SYS_ADMIN/)
  t.match(code({ ...req, top: { ...req.top, name: (pathOf(tree, nsKey(CGROUP)) ?? '').slice(1) } }), /^EEXIST \/cgroup-/, 'a name the host has')
})
