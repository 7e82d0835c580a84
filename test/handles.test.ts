// resolveHandle against a fake procfs: every kind of holder is checked, at
// the moment it is followed, to still lead to the namespace of the entry.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { FRESH_MS, Handles, resolveHandle } from '../src/kernel/handles.js'
import { nsGetId, readNsId } from '../src/kernel/ns-ioctl.js'
import { NS_TYPES } from '../src/model/namespace.js'
import { nsKey, type Holder, type Namespace } from '../src/model/namespace.js'
import { View } from '../src/model/access.js'
import { FakeProc } from './lib/fixture.js'
import { caller, discovery, ns as fakeNs } from './lib/snapshot.js'

const net = (ino: number, holders: Holder[], dev = 4): Namespace => ({ type: 'net', id: '9', dev, ino, owner: null, parent: null, ownerUid: null, holders })
// A kernel without NS_GET_ID: tasks are checked by link inode and start time.
const oldNet = (ino: number, holders: Holder[]): Namespace => ({ ...net(ino, holders), id: null })

t.test('a task holder, where the kernel has NS_GET_ID: its link opens the namespace with that id', async t => {
  const fd = fs.openSync('/proc/self/ns/net', 'r')
  const id = nsGetId(fd, '/proc/self/ns/net')
  const st = fs.fstatSync(fd)
  fs.closeSync(fd)
  const self: Holder = { kind: 'task', pid: process.pid, tid: process.pid, start: 0 }
  const ns = (nsid: bigint, holders: Holder[]): Namespace => ({ ...net(st.ino, holders, st.dev), id: nsid.toString() })
  t.equal(resolveHandle(ns(id, [self])), `/proc/${process.pid}/ns/net`, 'the same namespace, whatever the start time recorded')
  t.equal(resolveHandle(ns(id + 1n, [self])), undefined, 'another namespace behind the same link')
  t.equal(resolveHandle(ns(id, [{ ...self, pid: 0x3fffffff, tid: 0x3fffffff }])), undefined, 'no such task')
  t.equal(resolveHandle(ns(id, [{ kind: 'for-children', pid: process.pid, start: 0 }])), undefined, 'net has no _for_children link')
})

t.test('readNsId: the id NS_GET_ID gives, from the link alone', async t => {
  for (const type of NS_TYPES) {
    const link = `/proc/self/ns/${type}`
    const fd = fs.openSync(link, 'r')
    t.equal(readNsId(link), nsGetId(fd, link), type)
    fs.closeSync(fd)
  }
  t.equal(readNsId('/proc/self/ns/pid_for_children'), readNsId('/proc/self/ns/pid'), 'a child of ours starts in our pid namespace')
  t.equal(readNsId(`/proc/${0x3fffffff}/ns/net`), undefined, 'no such task')
  t.equal(readNsId('/proc/self/status'), undefined, 'no namespace')
})

t.test('task and fd holders: same inode, same process', async t => {
  const proc = new FakeProc(t)
    .add({ pid: 100, start: 500, ns: { net: 4026532000 }, fds: { 3: 'net:[4026532111]', 4: 'uts:[4026532111]' } })
  const fd = (n: number, start = 500): Holder => ({ kind: 'fd', pid: 100, fd: n, start })
  t.equal(resolveHandle(net(4026532111, [fd(3)]), proc.root), '/proc/100/fd/3', 'handed out as a real /proc path')
  t.equal(resolveHandle(net(4026532111, [fd(4)]), proc.root), undefined, 'same inode, other type')
  t.equal(resolveHandle(net(4026532111, [fd(3, 501)]), proc.root), undefined, 'pid reused since the scan')
  t.equal(resolveHandle(net(4026532111, [fd(9)]), proc.root), undefined, 'fd closed')
  const task: Holder = { kind: 'task', pid: 100, tid: 100, start: 500 }
  t.equal(resolveHandle(oldNet(4026532111, [task, fd(9), fd(3)]), proc.root), '/proc/100/fd/3', 'the first holder that still holds it')
  t.equal(resolveHandle(oldNet(4026532000, [task]), proc.root), '/proc/100/ns/net')
  t.equal(resolveHandle(oldNet(4026532000, [{ ...task, start: 501 }]), proc.root), undefined, 'without NS_GET_ID: pid reused since the scan')
})

t.test('mount holders: the mount point still shows the namespace', async t => {
  const proc = new FakeProc(t).add({ pid: 80, tid: 81, start: 800 })
  const pinDir = path.join(proc.root, '80', 'task', '81', 'root', 'tmp')
  fs.mkdirSync(pinDir, { recursive: true })
  fs.writeFileSync(path.join(pinDir, 'pin'), '')
  const st = fs.statSync(path.join(pinDir, 'pin'))
  const remote: Holder = { kind: 'mount', pid: 80, tid: 81, start: 800, mountPoint: '/tmp/pin', mountId: 9, local: false }
  t.equal(resolveHandle(net(st.ino, [remote], st.dev), proc.root), '/proc/80/task/81/root/tmp/pin')
  t.equal(resolveHandle(net(st.ino + 1, [remote], st.dev), proc.root), undefined, 'another namespace there now')
  t.equal(resolveHandle(net(st.ino, [{ ...remote, start: 801 }], st.dev), proc.root), undefined, 'another process')
  t.equal(resolveHandle(net(st.ino, [{ ...remote, mountPoint: '/tmp/gone' }], st.dev), proc.root), undefined, 'unmounted')
  const local: Holder = { kind: 'mount', pid: 1, tid: 1, start: 0, mountPoint: path.join(pinDir, 'pin'), mountId: 9, local: true }
  t.equal(resolveHandle(net(st.ino, [local], st.dev), proc.root), path.join(pinDir, 'pin'), 'in our own mount namespace: the plain path')
  fs.symlinkSync(path.join(pinDir, 'pin'), path.join(pinDir, 'link'))
  t.equal(resolveHandle(net(st.ino, [{ ...local, mountPoint: path.join(pinDir, 'link') }], st.dev), proc.root), undefined, 'a symlink left where the mount was is not followed')
})

t.test('a check made ahead answers the next readlink of its namespace, once, for at most FRESH_MS', async t => {
  const proc = new FakeProc(t).add({ pid: 100, start: 500, fds: { 3: 'net:[4026532111]' } })
  const user = fakeNs('user', 1)
  const pid = fakeNs('pid', 2, { owner: nsKey(user) })
  const mnt = fakeNs('mnt', 3, { owner: nsKey(user) })
  const held = oldNet(4026532111, [{ kind: 'fd', pid: 100, fd: 3, start: 500 }])
  const other = oldNet(4026532111, [{ kind: 'fd', pid: 100, fd: 3, start: 500 }])
  const d = discovery(user, [pid, mnt])
  let now = 0
  const handles = new Handles(() => d, () => undefined, { pid: nsKey(pid), mnt: nsKey(mnt) }, proc.root, () => now)
  const root = new View(d, caller([user, pid, mnt]))
  t.ok(handles.plain(root), 'root at home')
  const fd3 = path.join(proc.root, '100', 'fd', '3')
  const moveAway = (): void => { fs.rmSync(fd3); fs.symlinkSync('net:[4026532999]', fd3) }
  const moveBack = (): void => { fs.rmSync(fd3); fs.symlinkSync('net:[4026532111]', fd3) }

  handles.checkAhead(held, root)
  moveAway()
  now = FRESH_MS
  t.equal(handles.target(held, root), '/proc/100/fd/3', 'checked FRESH_MS ago: its answer stands')
  t.equal(handles.target(held, root), undefined, 'used once: the next readlink checks again')

  moveBack()
  handles.checkAhead(held, root)
  moveAway()
  now += FRESH_MS + 0.1
  t.equal(handles.target(held, root), undefined, 'older than FRESH_MS: checked again')

  moveBack()
  handles.checkAhead(held, root)
  moveAway()
  t.equal(handles.target(other, root), undefined, 'another namespace is never answered from it')

  moveBack()
  const stranger = new View(d, caller([user, pid, mnt], { uid: 1000, capEff: 0n }))
  handles.checkAhead(held, stranger)
  moveAway()
  t.equal(handles.target(held, root), undefined, 'a view whose check is its own checks nothing ahead')
})
