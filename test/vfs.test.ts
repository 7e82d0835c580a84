import t from 'tap'
import { METADATA_FILE } from '../src/model/metadata.js'
import { nsKey, type Namespace } from '../src/model/namespace.js'
import { TreeBuilder } from '../src/model/tree.js'
import { S_IFDIR, S_IFLNK, Vfs } from '../src/vfs/vfs.js'
import { discovery, ns, task } from './lib/snapshot.js'

const root = ns('user', 1, { ownerUid: 0, holders: [task(2, 2, 0)] })
const child = ns('user', 3, { owner: nsKey(root), parent: nsKey(root), ownerUid: 1000, holders: [task(40)] })
const net = ns('net', 4, { owner: nsKey(child), holders: [task(40, 41)] })
const dead = ns('ipc', 5, { owner: nsKey(root), holders: [task(77)] })
const tree = new TreeBuilder(Buffer.from('aa', 'hex')).build(discovery(root, [child, net, dead], 1_700_000_000_000))
const live = new Set([root, child, net])
const vfs = new Vfs(() => tree, (n: Namespace) => live.has(n) ? `/proc/${n.holders[0]?.kind === 'task' ? n.holders[0].pid : 0}/ns/${n.type}` : undefined)

const childDir = vfs.readdir('/').find(n => n.startsWith('user-')) as string
const netEntry = vfs.readdir(`/${childDir}`).find(n => n.startsWith('net-')) as string
const ipcEntry = vfs.readdir('/').find(n => n.startsWith('ipc-')) as string

t.test('getattr', async t => {
  const top = vfs.getattr('/')
  t.equal(top.mode, S_IFDIR | 0o755)
  t.equal(top.uid, 0)
  t.equal(top.nlink, 3, 'two plus one child directory')
  const dir = vfs.getattr(`/${childDir}`)
  t.equal(dir.uid, 1000, 'owned by the owner uid of its user namespace')
  const link = vfs.getattr(`/${childDir}/${netEntry}`)
  t.equal(link.mode, S_IFLNK | 0o777)
  t.equal(link.uid, 1000, 'entries belong to their directory\'s owner')
  t.equal(link.size, '/proc/40/task/41/ns/net'.length)
  t.equal(link.mtime.getTime(), 1_700_000_000_000)
  t.throws(() => vfs.getattr('/nope'), { code: 'ENOENT', path: '/nope' })
})

t.test('readdir', async t => {
  t.same(vfs.readdir(`/${childDir}`).sort(), [METADATA_FILE, 'user', netEntry].sort())
  t.throws(() => vfs.readdir(`/${childDir}/${netEntry}`), { code: 'ENOTDIR' })
})

t.test('readlink answers a verified holder or ENOENT', async t => {
  t.equal(vfs.readlink(`/${childDir}/user`), '/proc/40/ns/user')
  t.throws(() => vfs.readlink(`/${ipcEntry}`), { code: 'ENOENT', message: /no live holder/ })
  t.throws(() => vfs.readlink(`/${childDir}`), { code: 'EINVAL' })
})

t.test('statfs counts namespaces', async t => {
  const s = vfs.statfs()
  t.equal(s.files, 4)
  t.equal(s.namemax, 255)
  t.equal(s.blocks, 0)
})
