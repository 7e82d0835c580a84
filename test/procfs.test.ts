import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { listPids, listTids, parseNsLink, parseStartTime, readBootId, readNsLink, readTaskStart } from '../src/kernel/procfs.js'
import { parseMountinfo } from '../src/kernel/mountinfo.js'
import { resolveHandle } from '../src/kernel/handles.js'
import { FakeProc } from './lib/fixture.js'
import { ns as nsOf, task } from './lib/snapshot.js'
import type { Namespace, NsType } from '../src/model/namespace.js'

t.test('parseNsLink', async t => {
  t.same(parseNsLink('net:[4026531840]'), { type: 'net', ino: 4026531840 })
  t.same(parseNsLink('time:[1]'), { type: 'time', ino: 1 })
  t.equal(parseNsLink('pid_for_children:[1]'), undefined, 'not one of the eight types')
  t.equal(parseNsLink('socket:[123]'), undefined)
  t.equal(parseNsLink('/dev/null'), undefined)
})

t.test('parseStartTime counts from the last parenthesis', async t => {
  const fields = Array.from({ length: 30 }, (_, i) => String(i + 3))
  fields[19] = '98765'
  t.equal(parseStartTime(`42 (a) b) (c) ${fields.join(' ')}`), 98765)
  t.equal(parseStartTime('42 (x) S 1'), undefined)
})

t.test('readers over a fixture tree', async t => {
  const proc = new FakeProc(t)
  proc.add({ pid: 10, start: 500, ns: { net: 111, uts: 222 } })
  proc.add({ pid: 10, tid: 11, start: 501, ns: { net: 333 } })
  fs.mkdirSync(path.join(proc.root, 'self'))
  fs.mkdirSync(path.join(proc.root, 'sys/kernel/random'), { recursive: true })
  fs.writeFileSync(path.join(proc.root, 'sys/kernel/random/boot_id'), '34095884-4851-434b-8363-bac708f9d73c\n')
  t.same(listPids(proc.root), [10])
  t.same(listTids(proc.root, 10)?.sort(), [10, 11])
  t.equal(listTids(proc.root, 99), undefined, 'an exited process')
  t.same(readNsLink(`${proc.root}/10/task/11/ns/net`), { type: 'net', ino: 333 })
  t.equal(readNsLink(`${proc.root}/10/task/11/ns/uts`), undefined, 'missing link')
  t.equal(readTaskStart(proc.root, 10, 11), 501)
  t.equal(readTaskStart(proc.root, 10, 12), undefined)
  t.equal(readBootId(proc.root), '34095884-4851-434b-8363-bac708f9d73c')
  t.throws(() => listPids(path.join(proc.root, 'nope')), /cannot read/)
})

t.test('resolveHandle refuses a reused pid and a moved task (a kernel without NS_GET_ID)', async t => {
  // Fixture links cannot be opened as namespaces: checked by inode and start time.
  const ns = (type: NsType, id: number, opts: Parameters<typeof nsOf>[2]): Namespace => ({ ...nsOf(type, id, opts), id: null })
  const proc = new FakeProc(t)
  proc.add({ pid: 10, start: 500, ns: { net: 111 } })
  proc.add({ pid: 20, start: 600, ns: { net: 111 } })
  const net = ns('net', 1, { ino: 111, holders: [task(10, 10, 499), task(20, 20, 600)] })
  t.equal(resolveHandle(net, proc.root), '/proc/20/ns/net', 'pid 10 was reused (start time differs): next holder')
  const moved = ns('net', 2, { ino: 999, holders: [task(20, 20, 600)] })
  t.equal(resolveHandle(moved, proc.root), undefined, 'the task is in another namespace now')
  proc.add({ pid: 30, tid: 31, start: 700, ns: { uts: 5 } })
  t.equal(resolveHandle(ns('uts', 3, { ino: 5, holders: [task(30, 31, 700)] }), proc.root), '/proc/30/task/31/ns/uts', 'a thread holder')
})

t.test('parseMountinfo', async t => {
  const text = [
    '22 1 0:21 / /proc rw,nosuid - proc proc rw',
    '99 22 0:4 net:[4026532300] /run/netns/blue rw shared:5 - nsfs nsfs rw',
    '100 22 0:55 / /tmp/with\\040space rw - fuse.nsfs nsfs rw,user_id=0',
    'garbage',
  ].join('\n')
  const m = parseMountinfo(text)
  t.equal(m.length, 3)
  t.same(m[1], { mountId: 99, parentId: 22, device: '0:4', root: 'net:[4026532300]', mountPoint: '/run/netns/blue', fstype: 'nsfs', source: 'nsfs' })
  t.equal(m[2]?.mountPoint, '/tmp/with space')
  t.equal(m[2]?.fstype, 'fuse.nsfs')
})
