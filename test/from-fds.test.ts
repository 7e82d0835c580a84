import t from 'tap'
import { readProcFds } from '../src/discover/from-fds.js'
import { foundOf } from '../src/discover/found.js'
import { FakeProc } from './lib/fixture.js'
import type { InoKey } from '../src/model/namespace.js'

const ik = (s: string): InoKey => s as InoKey

t.test('nsfs fds are found by their readlink text alone', async t => {
  const proc = new FakeProc(t)
    .add({ pid: 100, start: 500, fds: { 0: '/dev/null', 3: 'net:[4026532000]', 4: 'socket:[77]', 5: 'user:[4026532001]', 6: 'anon_inode:[eventfd]' } })
    .add({ pid: 200, start: 600, fds: { 3: 'net:[4026532000]' } })
    .add({ pid: 300, start: 700, fds: { 7: 'net:[4026532999]' } })
    .add({ pid: 400, start: 800 })
  const found = foundOf([100, 200, 300, 400].flatMap(pid => readProcFds(proc.root, pid, 300)))
  t.same([...found.keys()].sort(), ['net:4026532000', 'user:4026532001'])
  t.same(found.get(ik('net:4026532000'))?.holders, [
    { kind: 'fd', pid: 100, fd: 3, start: 500 },
    { kind: 'fd', pid: 200, fd: 3, start: 600 },
  ])
  t.same(found.get(ik('user:4026532001')), { type: 'user', ino: 4026532001, holders: [{ kind: 'fd', pid: 100, fd: 5, start: 500 }] })
  t.notOk([...found.values()].some(e => e.holders.some(h => h.pid === 300)), 'the scanning process itself is skipped')
})
