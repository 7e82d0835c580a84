import t from 'tap'
import { readMountNamespace, nsfsMounts, mountNamespaceTasks } from '../src/discover/from-mounts.js'
import { mergeFound, type Found } from '../src/discover/found.js'
import { parseMountinfo } from '../src/kernel/mountinfo.js'
import { FakeProc } from './lib/fixture.js'
import type { InoKey } from '../src/model/namespace.js'

const ik = (s: string): InoKey => s as InoKey

const HOST = [
  '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '43 42 0:4 net:[4026532319] /run/netns/blue rw shared:2 - nsfs nsfs rw',
  '50 22 0:55 / /run/nsfs rw,nosuid,nodev,relatime shared:30 - fuse.nsfs nsfs rw,user_id=0,group_id=0',
  '51 50 0:4 net:[4026532400] /run/nsfs/net-0123456789ab rw - nsfs nsfs rw',
  '52 22 0:4 mnt:[4026532500] /run/with\\040space rw - nsfs nsfs rw',
  '53 22 0:4 garbage /run/odd rw - nsfs nsfs rw',
].join('\n') + '\n'
const PRIVATE = [
  '80 79 0:21 / / rw,relatime - ext4 /dev/vda1 rw',
  '81 80 0:4 net:[4026532600] /tmp/pin rw - nsfs nsfs rw',
].join('\n') + '\n'

t.test('nsfs bind mounts in every mount namespace', async t => {
  const proc = new FakeProc(t)
    .add({ pid: 1, start: 10, ns: { mnt: 4026531832 }, mountinfo: HOST })
    .add({ pid: 900, tid: 901, start: 90, ns: { mnt: 4026532700 }, mountinfo: PRIVATE })
  const tasks = [{ mntIno: 4026531832, pid: 1, tid: 1 }, { mntIno: 4026532700, pid: 900, tid: 901 }, { mntIno: 1, pid: 5555, tid: 5555 }]
  const each = tasks.map(task => readMountNamespace(proc.root, task, 4026531832))
  t.equal(each[2], undefined, 'a task that is gone')
  const found = mergeFound(each.filter((f): f is Found => f !== undefined))
  t.same([...found.keys()].sort(), ['mnt:4026532500', 'net:4026532319', 'net:4026532600'])
  t.same(found.get(ik('net:4026532319'))?.holders, [{ kind: 'mount', pid: 1, tid: 1, start: 10, mountPoint: '/run/netns/blue', mountId: 43, local: true }])
  t.same(found.get(ik('net:4026532600'))?.holders, [{ kind: 'mount', pid: 900, tid: 901, start: 90, mountPoint: '/tmp/pin', mountId: 81, local: false }], 'a thread\'s own mount namespace, not ours')
  t.match(found.get(ik('mnt:4026532500'))?.holders, [{ kind: 'mount', mountPoint: '/run/with space' }], 'octal escapes undone')
})

t.test('mounts under an nsfs FUSE mount are never followed', async t => {
  const kept = nsfsMounts(parseMountinfo(HOST)).map(m => m.mountPoint)
  t.notOk(kept.includes('/run/nsfs/net-0123456789ab'))
  t.ok(kept.includes('/run/netns/blue'))
})

t.test('one task per mount namespace: the oldest', async t => {
  const tasks = new Map([
    [ik('mnt:1'), { type: 'mnt' as const, ino: 1, holders: [{ kind: 'task' as const, pid: 2, tid: 2, start: 1 }, { kind: 'task' as const, pid: 9, tid: 9, start: 5 }] }],
    [ik('net:2'), { type: 'net' as const, ino: 2, holders: [{ kind: 'task' as const, pid: 2, tid: 2, start: 1 }] }],
  ])
  t.same(mountNamespaceTasks(tasks), [{ mntIno: 1, pid: 2, tid: 2 }])
})
