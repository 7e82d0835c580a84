// Metadata and the hidden .nsfs.json, driven by a hand-built discovery.
import t from 'tap'
import { allMetadata, dirMetadata, METADATA_FILE } from '../src/model/metadata.js'
import type { Discovery, Holder, Namespace, NsKey, NsType } from '../src/model/namespace.js'
import { TreeBuilder } from '../src/model/tree.js'
import type { Tree } from '../src/model/tree-node.js'
import { Vfs, S_IFREG } from '../src/vfs/vfs.js'
import { caller, fakeAccess, ROOT_CALLER } from './lib/snapshot.js'

let nextId = 100
function ns (type: NsType, owner: NsKey | null, holders: Holder[], extra: Partial<Namespace> = {}): Namespace {
  const id = String(nextId++)
  return { type, id, dev: 4, ino: 4026530000 + Number(id), owner, parent: type === 'user' ? owner : null, ownerUid: type === 'user' ? 0 : null, holders, ...extra }
}
const key = (n: Namespace): NsKey => `${n.type}:${n.id as string}`

const task = (pid: number, tid = pid): Holder => ({ kind: 'task', pid, tid, start: pid * 10 })
const root = ns('user', null, [task(1)])
const child = ns('user', key(root), [], { ownerUid: 1000 })
const pidParent = ns('pid', key(root), [])
const pidChild = ns('pid', key(root), [task(50)], { parent: key(pidParent) })
const blue = ns('net', key(root), [{ kind: 'mount', pid: 1, tid: 1, start: 10, mountPoint: '/run/netns/blue', mountId: 43, local: true }])
const pinned = ns('net', key(child), [{ kind: 'fd', pid: 70, fd: 3, start: 700 }, { kind: 'mount', pid: 80, tid: 81, start: 800, mountPoint: '/tmp/pin', mountId: 9, local: false }])
const threaded = ns('uts', key(root), [task(60, 61)])
const listed = ns('ipc', key(root), [], { listed: true })
const all = [root, child, pidParent, pidChild, blue, pinned, threaded, listed]
const discovery: Discovery = { root: key(root), namespaces: new Map(all.map(n => [key(n), n])), scannedAt: 1700000000000, durationMs: 1 }

function build (d: Discovery = discovery): Tree {
  return new TreeBuilder(Buffer.from('seed')).build(d)
}

t.test('holder-less non-user namespaces stay out of the tree, in the metadata', async t => {
  const tree = build()
  const names = [...tree.root.entries.keys()]
  t.notOk(names.some(n => n.startsWith('ipc-')), 'listns-only ipc not shown')
  t.equal(names.filter(n => n.startsWith('pid-')).length, 1, 'only the pid namespace with a task')
  const meta = dirMetadata(tree, '/')
  if (meta === undefined) throw new Error('root metadata')
  t.equal(meta.directory?.key, key(root))
  t.equal(meta.directory?.path, '/')
  const parentMeta = meta.entries.find(e => e.key === key(pidParent))
  t.match(parentMeta, { path: null, foundBy: ['parent'], holders: [] })
  t.match(meta.entries.find(e => e.key === key(listed)), { path: null, foundBy: ['listns'] })
  const childPid = meta.entries.find(e => e.key === key(pidChild))
  t.equal(childPid?.parent, key(pidParent))
  t.equal(childPid?.parentPath, null, 'its parent has no path')
})

t.test('found-by, holders, pids and netns names', async t => {
  const tree = build()
  const root = dirMetadata(tree, '/')
  const b = root?.entries.find(e => e.key === key(blue))
  t.same(b?.netns, ['blue'])
  t.same(b?.foundBy, ['mount'])
  t.same(b?.pids, [], 'a bind mount is no process')
  t.same(b?.holders, [{ kind: 'mount', pid: 1, mountPoint: '/run/netns/blue', local: true, path: '/run/netns/blue' }])
  t.match(b?.path, /^\/net-[0-9a-f]{12}$/)
  t.equal(b?.devIno, `4:${blue.ino}`)
  t.same(root?.entries.find(e => e.key === key(threaded))?.foundBy, ['thread'])
  const childDir = root?.entries.find(e => e.key === key(child))
  t.match(childDir, { type: 'user', foundBy: ['parent'], ownerUid: 1000, ownerPath: '/' })
  const inner = dirMetadata(tree, childDir?.path as string)
  t.equal(inner?.directory?.key, key(child))
  const p = inner?.entries.find(e => e.key === key(pinned))
  t.same(p?.foundBy, ['fd', 'mount'])
  t.same(p?.pids, [70])
  t.same(p?.holders.map(h => h.path), ['/proc/70/fd/3', '/proc/80/task/81/root/tmp/pin'])
  t.equal(p?.ownerPath, childDir?.path)
  t.equal(dirMetadata(tree, '/nope'), undefined)
  t.equal(dirMetadata(tree, b?.path as string), undefined, 'an entry is no directory')
  t.equal(allMetadata(tree).length, all.length, 'every namespace once')
})

t.test('the vfs serves .nsfs.json: listed, read-only, one snapshot per open', async t => {
  let tree = build()
  const vfs = new Vfs(() => tree, fakeAccess(() => tree, () => undefined))
  const view = vfs.view(ROOT_CALLER)
  const list = (path: string): string[] => {
    const e = vfs.resolve(path, view)
    return e.kind === 'dir' ? [...vfs.list(e, view).names] : []
  }
  const file = `/${METADATA_FILE}`
  t.ok(list('/').includes(METADATA_FILE))
  t.equal(vfs.attr(vfs.resolve(file, view)).mode, S_IFREG | 0o444)
  const fh = vfs.open(vfs.resolve(file, view), 0, view)
  const size = vfs.attr(vfs.resolve(file, view)).size
  t.ok(size > 0, 'the attributes report the last rendered size')
  const whole = vfs.read(fh, 1 << 20, 0)
  t.equal(whole.length, size)
  const doc = JSON.parse(whole.toString()) as { directory: { key: string }, entries: unknown[] }
  t.equal(doc.directory.key, key(root))
  t.equal(doc.entries.length, all.length - 1 - 1, 'the root lists all but itself and what its child owns')
  t.equal(whole.toString().split('\n').length, doc.entries.length + 4, 'one entry per line')
  // The tree moves on (the pinned netns dies); the open handle does not.
  tree = build({ ...discovery, namespaces: new Map(all.filter(n => n !== blue).map(n => [key(n), n])) })
  t.same(Buffer.concat([vfs.read(fh, 100, 0), vfs.read(fh, 1 << 20, 100)]), whole, 'same bytes, read in two parts')
  t.equal(vfs.read(fh, 10, whole.length + 5).length, 0, 'EOF')
  t.equal(vfs.openFiles, 1)
  vfs.release(fh)
  t.equal(vfs.openFiles, 0)
  t.throws(() => vfs.read(fh, 10, 0), { code: 'EBADF' })
  const again = vfs.open(vfs.resolve(file, view), 0, view)
  t.not(vfs.read(again, 1 << 20, 0).length, whole.length, 'a new open sees the new tree')
  vfs.release(again)
  t.throws(() => vfs.open(vfs.resolve(file, view), 2, view), { code: 'EROFS' })
  t.throws(() => vfs.open(vfs.resolve('/', view), 0, view), { code: 'EISDIR' })
  t.throws(() => vfs.resolve(`/nope/${METADATA_FILE}`, view), { code: 'ENOENT' })
  const link = list('/').find(n => n.startsWith('uts-')) as string
  t.throws(() => vfs.open(vfs.resolve(`/${link}`, view), 0, view), { code: 'EINVAL' })
  t.throws(() => vfs.resolve(`/${link}/${METADATA_FILE}`, view), { code: 'ENOENT' })
  const childName = list('/').find(n => n.startsWith('user-')) as string
  t.ok(list(`/${childName}`).includes(METADATA_FILE), 'in every directory')
  t.notOk(list(`/${childName}`).includes('user'), 'a holder-less user namespace has no handle')
})

t.test('a reader who may see less reads less', async t => {
  const tree = build()
  const uts = all.find(n => n.type === 'uts' && n.owner === key(root)) as Namespace
  // In the root's uts namespace, and no more: uid 2000 without capabilities.
  const callers = new Map([[7, caller([root, uts], { tid: 7, uid: 2000 })]])
  const vfs = new Vfs(() => tree, { ...fakeAccess(() => tree, () => undefined, callers), holders: () => [] })
  const view = vfs.view({ uid: 2000, gid: 2000, pid: 7 })
  const doc = JSON.parse(vfs.read(vfs.open(vfs.resolve(`/${METADATA_FILE}`, view), 0, view), 1 << 20, 0).toString()) as { directory: { key: string } | null, entries: Array<{ key: string, holders: unknown[], pids: unknown[] }> }
  t.same(doc.entries.map(e => e.key), [key(uts)], 'only what it is in')
  t.same(doc.entries[0]?.holders, [], 'and of its holders, none it may not read')
  t.same(doc.entries[0]?.pids, [])
  t.equal(doc.directory?.key, key(root), 'it is in the root\'s user namespace too')
})
