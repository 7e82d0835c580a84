import t from 'tap'
import { METADATA_FILE } from '../src/model/metadata.js'
import { nsKey, type Namespace } from '../src/model/namespace.js'
import { TreeBuilder } from '../src/model/tree.js'
import type { Tree } from '../src/model/tree-node.js'
import { CACHE_SECONDS, S_IFDIR, S_IFLNK, S_IFREG, Vfs, type Entry } from '../src/vfs/vfs.js'
import { caller, discovery, fakeAccess, ns, ROOT_CALLER, task } from './lib/snapshot.js'

const root = ns('user', 1, { ownerUid: 0, holders: [task(2, 2, 0)] })
const child = ns('user', 3, { owner: nsKey(root), parent: nsKey(root), ownerUid: 1000, holders: [task(40)] })
const net = ns('net', 4, { owner: nsKey(child), holders: [task(40, 41)] })
const dead = ns('ipc', 5, { owner: nsKey(root), holders: [task(77)] })
const hostNet = ns('net', 6, { owner: nsKey(root), holders: [task(2)] })
const builder = new TreeBuilder(Buffer.from('aa', 'hex'))
let tree: Tree = builder.build(discovery(root, [child, net, dead, hostNet], 1_700_000_000_000))
const live = new Set([root, child, net, hostNet])
const target = (n: Namespace): string | undefined => live.has(n) ? `/proc/${n.holders[0]?.kind === 'task' ? n.holders[0].pid : 0}/ns/${n.type}` : undefined
// uid 1000 in the host's network namespace, owner of `child`; uid 2000,
// in the host's namespaces and nothing more.
const owner = caller([root, hostNet], { tid: 500, uid: 1000 })
const stranger = caller([root, hostNet], { tid: 600, uid: 2000 })
const callers = new Map([[500, owner], [600, stranger]])
const renamed: string[] = []
const vfs = new Vfs(() => tree, fakeAccess(() => tree, target, callers), plan => { if (plan.kind === 'set') renamed.push(plan.name) })
const rootView = vfs.view(ROOT_CALLER)
const names = (path: string, view = rootView): string[] => {
  const e = vfs.resolve(path, view)
  if (e.kind !== 'dir') throw new Error(`${path} is no directory`)
  return [...vfs.list(e, view).names]
}
const childDir = names('/').find(n => n.startsWith('user-')) as string
const netEntry = names(`/${childDir}`).find(n => n.startsWith('net-')) as string
const ipcEntry = names('/').find(n => n.startsWith('ipc-')) as string
const hostNetEntry = names('/').find(n => n.startsWith('net-')) as string

t.test('entries are classified once, with their attributes', async t => {
  const top = vfs.resolve('/', rootView)
  t.equal(top.kind, 'dir')
  t.match(vfs.attr(top), { mode: S_IFDIR | 0o755, uid: 0, nlink: 1 })
  const dir = vfs.resolve(`/${childDir}`, rootView)
  t.equal(vfs.attr(dir).uid, 1000, 'owned by the owner uid of its user namespace')
  const link = vfs.resolve(`/${childDir}/${netEntry}`, rootView)
  t.equal(link.identity, `l:${nsKey(net)}`)
  t.match(vfs.attr(link), { mode: S_IFLNK | 0o777, uid: 1000, size: '/proc/40/task/41/ns/net'.length, timeMs: 1_700_000_000_000 })
  const meta = vfs.resolve(`/${childDir}/${METADATA_FILE}`, rootView)
  t.equal(meta.kind, 'meta')
  t.equal(meta.identity, `m:${nsKey(child)}`)
  t.equal(vfs.attr(meta).mode, S_IFREG | 0o444)
  t.throws(() => vfs.resolve('/nope', rootView), { code: 'ENOENT', path: '/nope' })
  t.throws(() => vfs.resolve(`/${childDir}/${netEntry}/x`, rootView), { code: 'ENOENT' })
  t.throws(() => vfs.resolve(`/${childDir}`, rootView, `d:${nsKey(root)}`), { code: 'ENOENT' }, 'a path that leads elsewhere now')
})

t.test('a listing\'s entries, made as they are read, are those a lookup finds', async t => {
  for (const path of ['/', `/${childDir}`]) {
    const dir = vfs.resolve(path, rootView)
    if (dir.kind !== 'dir') throw new Error(`${path} is no directory`)
    const listing = vfs.list(dir, rootView)
    t.ok(listing.names.length >= 3, `${path}: entries, then the special ones`)
    listing.names.forEach((name, i) => {
      const looked = vfs.child(dir, name, rootView)
      t.match(listing.entry(i), { kind: looked.kind, identity: looked.identity, path: looked.path }, `${path} ${name}`)
    })
  }
})

t.test('what the kernel may keep: names that cannot be guessed, attributes of what was found', async t => {
  t.same(vfs.cacheTimes(vfs.resolve(`/${childDir}/${netEntry}`, rootView)), { entry: CACHE_SECONDS, attr: CACHE_SECONDS })
  t.same(vfs.cacheTimes(vfs.resolve(`/${childDir}/user`, rootView)), { entry: 0, attr: CACHE_SECONDS }, '`user` is asked for every time')
  t.same(vfs.cacheTimes(vfs.resolve(`/${METADATA_FILE}`, rootView)), { entry: CACHE_SECONDS, attr: 0 }, 'a metadata file\'s size changes')
  const chosen = builder.build(tree.discovery, new Map([[nsKey(hostNet), { name: 'web' }]]))
  const v = new Vfs(() => chosen, fakeAccess(() => chosen, target))
  t.same(v.cacheTimes(v.resolve('/web', v.view(ROOT_CALLER))), { entry: 0, attr: CACHE_SECONDS }, 'a chosen name is asked for every time')
})

t.test('listing: tree order, the metadata file last', async t => {
  t.same(names(`/${childDir}`), ['user', netEntry, METADATA_FILE])
})

t.test('readlink answers a verified holder or ENOENT', async t => {
  t.equal(vfs.readlink(vfs.resolve(`/${childDir}/user`, rootView), rootView), '/proc/40/ns/user')
  t.throws(() => vfs.readlink(vfs.resolve(`/${ipcEntry}`, rootView), rootView), { code: 'ENOENT', message: /no live holder/ })
  t.throws(() => vfs.readlink(vfs.resolve(`/${childDir}`, rootView), rootView), { code: 'EINVAL' })
})

t.test('each caller sees what listns(2) would list for it', async t => {
  const ownerView = vfs.view({ uid: 1000, gid: 0, pid: 500 })
  const strangerView = vfs.view({ uid: 2000, gid: 0, pid: 600 })
  t.notOk(ownerView.privileged)
  t.same(names('/', strangerView).sort(), [hostNetEntry, 'user', 'containers', METADATA_FILE].sort(), 'only the namespaces it is in')
  t.same(names('/', ownerView).sort(), [hostNetEntry, 'user', childDir, 'containers', METADATA_FILE].sort(), 'and the user namespace it owns')
  t.same(names(`/${childDir}`, ownerView), ['user', netEntry, METADATA_FILE], 'with all it owns')
  t.throws(() => vfs.resolve(`/${childDir}`, strangerView), { code: 'ENOENT' }, 'a name the stranger guessed')
  t.throws(() => vfs.resolve(`/${ipcEntry}`, ownerView), { code: 'ENOENT' })
  t.equal(vfs.readlink(vfs.resolve(`/${hostNetEntry}`, strangerView), strangerView), '/proc/thread-self/ns/net', 'its own namespace through itself')
  t.equal(vfs.statfs(strangerView).files, 2)
  t.equal(vfs.statfs(rootView).files, 5)
  t.equal(vfs.view({ uid: 0, gid: 0, pid: 0 }).caller, undefined, 'a caller from no pid namespace of ours')
})

t.test('renaming needs CAP_SYS_ADMIN over the directory', async t => {
  const ownerView = vfs.view({ uid: 1000, gid: 0, pid: 500 })
  vfs.rename(`/${childDir}/${netEntry}`, `/${childDir}/db`, ownerView)
  t.same(renamed, ['db'], 'the owner in its own directory')
  t.throws(() => vfs.rename(`/${hostNetEntry}`, '/mine', ownerView), { code: 'EACCES' })
  t.throws(() => vfs.rename(`/${ipcEntry}`, '/x', rootView), { code: 'ENOENT', message: /died/ })
})

t.test('statfs counts namespaces', async t => {
  const s = vfs.statfs(rootView)
  t.equal(s.namemax, 255)
  t.equal(s.blocks, 0)
})

t.test('an entry of a listing knows whether it still stands', async t => {
  const e: Entry = vfs.resolve(`/${ipcEntry}`, rootView)
  t.ok(vfs.stands(e))
  const before = tree
  tree = builder.build(discovery(root, [child, net, hostNet], 1_700_000_000_000))
  t.notOk(vfs.stands(e))
  t.ok(vfs.stands(vfs.resolve(`/${METADATA_FILE}`, rootView)))
  tree = before
})
