// Discovery merging its sources, against a fake procfs and a fake describer.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import type { NsDescription } from '../src/kernel/describe.js'
import type { NsDescriber } from '../src/discover/describe-cache.js'
import { Listns } from '../src/kernel/listns.js'
import { Discoverer } from '../src/discover/discover.js'
import { nsKey, type NsKey, type NsType } from '../src/model/namespace.js'
import { FakeProc } from './lib/fixture.js'

const ROOT_USER = 4026531837
const HOST_MNT = 4026531832

// Describes by inode: id = ino, every namespace owned by the root user ns,
// except those in `owners`.
function fakeDescriber (owners: Record<number, number> = {}, byId: Record<string, NsDescription> = {}): NsDescriber & { described: string[] } {
  const metas = new Map<NsKey, NsDescription>()
  const described: string[] = []
  const meta = (type: NsType, ino: number): NsDescription => {
    const owner = ino === ROOT_USER ? null : `user:${owners[ino] ?? ROOT_USER}` as NsKey
    const m: NsDescription = { type, id: String(ino), dev: 4, ino, owner, parent: type === 'user' ? owner : null, ownerUid: type === 'user' ? 0 : null }
    metas.set(nsKey(m), m)
    return m
  }
  meta('user', ROOT_USER)
  for (const [ino, owner] of Object.entries(owners)) if (!metas.has(`user:${owner}`)) meta('user', owner)
  return {
    described,
    describe: (path, type, ino) => { described.push(path); return meta(type, ino) },
    describeById: (type, id) => { const m = byId[`${type}:${id}`]; if (m !== undefined) metas.set(nsKey(m), m); return m },
    lineage: key => {
      const out: NsDescription[] = []
      for (let k: NsKey | null = key; k !== null;) {
        const m = metas.get(k)
        if (m === undefined) break
        out.push(m)
        k = m.owner
      }
      return out
    },
    evict: () => {},
  }
}

function fakeProc (t: { teardown: (fn: () => void) => void }): FakeProc {
  return new FakeProc(t)
    .add({ pid: 1, start: 10, ns: { user: ROOT_USER, mnt: HOST_MNT, net: 4026531833 }, mountinfo: '43 42 0:4 net:[4026532319] /run/netns/blue rw - nsfs nsfs rw\n' })
    .add({ pid: 42, start: 420, ns: { user: ROOT_USER, mnt: 4026532700 }, fds: { 3: 'net:[4026532500]', 4: '/dev/null' }, mountinfo: '81 80 0:4 net:[4026532600] /tmp/pin rw - nsfs nsfs rw\n' })
    .add({ pid: 7, start: 70, ns: { user: ROOT_USER, mnt: HOST_MNT } })
}

t.test('tasks, fds and bind mounts in one snapshot', async t => {
  const proc = fakeProc(t)
  const describer = fakeDescriber({ 4026532500: 4026532900 })
  const d = new Discoverer(proc.root, describer, 7).run()
  const get = (type: NsType, ino: number) => d.namespaces.get(`${type}:${ino}`)
  t.equal(d.root, `user:${ROOT_USER}`)
  t.same(get('net', 4026532319)?.holders, [{ kind: 'mount', pid: 1, tid: 1, start: 10, mountPoint: '/run/netns/blue', mountId: 43, local: true }], 'ip netns add in our mount namespace')
  t.same(get('net', 4026532600)?.holders, [{ kind: 'mount', pid: 42, tid: 42, start: 420, mountPoint: '/tmp/pin', mountId: 81, local: false }], 'a bind mount in another mount namespace')
  t.same(get('net', 4026532500)?.holders, [{ kind: 'fd', pid: 42, fd: 3, start: 420 }])
  t.match(get('user', 4026532900), { holders: [] }, 'its owner, known only as that, is in the snapshot')
  t.ok(describer.described.includes('/run/netns/blue'), 'in our own mount namespace: opened by its plain path')
  t.ok(describer.described.includes(`${proc.root}/42/root/tmp/pin`), 'opened through /proc/PID/root of its mount namespace')
  t.equal(get('net', 4026531833)?.listed, undefined, 'nothing listed without listns')
})

t.test("a recheck for links alone leaves the fds as they were; the sweep's reads both", async t => {
  const proc = fakeProc(t)
  const discoverer = new Discoverer(proc.root, fakeDescriber(), 7)
  discoverer.run()
  discoverer.takeDelta()
  fs.symlinkSync('net:[4026532501]', path.join(proc.root, '42', 'fd', '5'))
  const upserted = (): string[] => discoverer.takeDelta().upserted.map(n => nsKey(n))
  discoverer.pass(tasks => tasks.recheck(42), { mounts: new Set(), listns: false, linksOnly: new Set([42]) })
  t.same(upserted(), [], 'an fd opened since: left to the sweep')
  discoverer.pass(tasks => tasks.sweepSome(10, 'recheck'), { mounts: new Set(), listns: false })
  t.same(upserted(), ['net:4026532501'], 'found by the sweep')
})

t.test('a child forked from a process without namespace fds: its fds, a copy, are not read', async t => {
  const proc = fakeProc(t)
  const discoverer = new Discoverer(proc.root, fakeDescriber({ 4026532500: 4026532900 }), 7)
  discoverer.run()
  discoverer.takeDelta()
  t.ok(discoverer.holdsByFd(42), 'pid 42 holds one')
  t.notOk(discoverer.holdsByFd(1), 'pid 1 none')
  // 42 exits; its pid goes to a child of 1 (the fixture's files stay).
  discoverer.pass(tasks => { tasks.exited(42, 42); tasks.readProc(42) }, { mounts: new Set(), listns: false, fdsInherited: new Set([42]) })
  t.notOk(discoverer.holdsByFd(42), 'not read: the fds of the process before are forgotten')
  t.ok(discoverer.takeDelta().removed.includes('net:4026532500' as NsKey), 'and what they held')
})

t.test('listns marks what it lists and adds what /proc missed', async t => {
  const proc = fakeProc(t)
  const hidden: NsDescription = { type: 'ipc', id: '777', dev: 4, ino: 4026533777, owner: `user:${ROOT_USER}`, parent: null, ownerUid: null }
  const describer = fakeDescriber({}, { 'ipc:777': hidden })
  const listns = Listns.detect((req, out) => {
    const ids: Record<number, bigint[]> = { 0x40000000: [4026531833n], 0x08000000: [777n, 778n] }
    const page = (ids[req.readUInt32LE(16)] ?? []).filter(id => id > req.readBigUInt64LE(8))
    page.forEach((id, i) => out.writeBigUInt64LE(id, i * 8))
    return page.length
  })
  const discoverer = new Discoverer(proc.root, describer, 7, listns)
  const d = discoverer.run()
  t.equal(d.namespaces.get('net:4026531833')?.listed, true)
  t.notOk(d.namespaces.get('net:4026532319')?.listed, 'not listed: not marked')
  t.match(d.namespaces.get('ipc:777'), { listed: true, holders: [], ino: 4026533777 })
  t.notOk(d.namespaces.has('ipc:778'), 'one that cannot be opened by id is left out')
  t.equal(discoverer.run(), d, 'listed as before: the same snapshot')
})
