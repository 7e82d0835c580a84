// The incremental task scanner against a hand-built procfs tree: symlinks
// whose text is what the kernel's ns links say, stat files with a start time.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { TaskWatch } from '../src/discover/task-watch.js'
import type { InoKey } from '../src/model/namespace.js'

const ik = (s: string): InoKey => s as InoKey

interface Fixture {
  root: string
  task: (pid: number, tid: number, start: number, ns: Record<string, number>) => void
  setNs: (pid: number, tid: number, type: string, ino: number) => void
  kill: (pid: number) => void
  // The process exits but is not reaped: /proc/PID stays, state Z.
  zombie: (pid: number) => void
  uptime: (seconds: number) => void
}

function fixture (t: { teardown: (fn: () => void) => void }): Fixture {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-proc-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  const uptime = (seconds: number): void => fs.writeFileSync(path.join(root, 'uptime'), `${seconds.toFixed(2)} 0.00\n`)
  uptime(1000)
  const setNs = (pid: number, tid: number, type: string, ino: number): void => {
    const link = path.join(root, String(pid), 'task', String(tid), 'ns', type)
    fs.rmSync(link, { force: true })
    fs.symlinkSync(`${type}:[${ino}]`, link)
  }
  return {
    root,
    uptime,
    setNs,
    task: (pid, tid, start, ns) => {
      const dir = path.join(root, String(pid), 'task', String(tid))
      fs.mkdirSync(path.join(dir, 'ns'), { recursive: true })
      // Fields after the command: state is field 3, start time field 22.
      const rest = ['S', ...Array.from({ length: 18 }, () => '0'), String(start), '0']
      fs.writeFileSync(path.join(dir, 'stat'), `${tid} (a b) c) ${rest.join(' ')}\n`)
      for (const [type, ino] of Object.entries(ns)) setNs(pid, tid, type, ino)
    },
    kill: pid => fs.rmSync(path.join(root, String(pid)), { recursive: true }),
    zombie: pid => {
      const stat = path.join(root, String(pid), 'task', String(pid), 'stat')
      fs.writeFileSync(stat, fs.readFileSync(stat, 'utf8').replace(') S ', ') Z '))
    },
  }
}

// The holders an update answered for `key`, as pid/tid.
const shown = (found: ReturnType<TaskWatch['update']>, key: string): string[] =>
  (found.get(ik(key))?.holders ?? []).map(h => h.kind === 'task' ? `${h.pid}/${h.tid}` : h.kind)
const holdersOf = (w: TaskWatch, key: string): string[] => shown(w.scan(), key)

t.test('first scan: every task and thread, holders oldest first', async t => {
  const f = fixture(t)
  f.task(30, 30, 500, { uts: 1, net: 7 })
  f.task(30, 31, 600, { uts: 2, net: 7 })
  f.task(2, 2, 5, { uts: 1, net: 7 })
  const w = new TaskWatch(f.root)
  const found = w.scan()
  t.same([...found.keys()].sort(), ['net:7', 'uts:1', 'uts:2'])
  t.same(holdersOf(w, 'uts:1'), ['2/2', '30/30'])
  t.same(holdersOf(w, 'net:7'), ['2/2', '30/30', '30/31'])
  t.same(holdersOf(w, 'uts:2'), ['30/31'])
  t.same(found.get(ik('uts:2'))?.type, 'uts')
  t.same(found.get(ik('uts:2'))?.ino, 2)
})

t.test('a new process is read at once, a gone one dropped at once', async t => {
  const f = fixture(t)
  f.task(2, 2, 5, { uts: 1 })
  const w = new TaskWatch(f.root)
  w.scan()
  t.same([...w.changed], ['uts:1'], 'the first scan changes everything')
  w.scan()
  t.same([...w.changed], [], 'nothing changed')
  f.task(40, 40, 99000, { uts: 3 })
  t.same(holdersOf(w, 'uts:3'), ['40/40'])
  t.same([...w.changed], ['uts:3'], 'only what changed')
  f.kill(40)
  t.notOk(w.scan().has(ik('uts:3')))
  t.same([...w.changed], ['uts:3'], 'gone is a change')
})

t.test('an exited process not yet reaped holds nothing, though its user link still reads', async t => {
  const f = fixture(t)
  f.task(2, 2, 5, { uts: 1 })
  f.task(40, 40, 500, { user: 3, uts: 1 })
  const w = new TaskWatch(f.root)
  t.same(holdersOf(w, 'user:3'), ['40/40'])
  // What an exit event does; no event comes when the zombie is reaped.
  f.zombie(40)
  w.readProc(40)
  t.notOk(w.scan().has(ik('user:3')), 'dropped at the exit')
  t.same(holdersOf(w, 'uts:1'), ['2/2'])
})

t.test('a recheck reads the links of a known process, and nothing of one gone', async t => {
  const f = fixture(t)
  f.task(2, 2, 5, { uts: 1 })
  f.task(40, 40, 500, { uts: 1 })
  const w = new TaskWatch(f.root)
  w.scan()
  w.update(x => x.recheck(40))
  t.same([...w.rechecked], [40], 'as it was: rechecked, not read again')
  t.same([...w.reread], [])
  f.setNs(40, 40, 'uts', 7) // unshare(2), which makes no event
  t.same([...w.update(x => x.recheck(40)).keys()].sort(), ['uts:1', 'uts:7'], 'moved: read again whole')
  t.same([...w.reread], [40])
  f.task(41, 41, 600, { uts: 8 })
  w.update(x => x.recheck(41))
  t.same([...w.reread, ...w.rechecked], [], 'never read (its exit came first): not read now')
})

t.test('an exit the connector reports drops the task without reading /proc', async t => {
  const f = fixture(t)
  f.task(2, 2, 5, { uts: 1 })
  f.task(40, 40, 500, { uts: 3 })
  f.task(50, 50, 600, { uts: 4 })
  f.task(50, 51, 601, { uts: 5 })
  const w = new TaskWatch(f.root)
  w.scan()
  // /proc still shows them (not reaped yet): only the event says they left.
  let found = w.update(x => t.ok(x.exited(40, 40), 'a known process'))
  t.notOk(found.has(ik('uts:3')), 'its namespace gone with its only task')
  t.notOk(w.has(40))
  t.same([...w.reread], [], 'nothing read')
  found = w.update(x => t.ok(x.exited(50, 51), 'a known thread'))
  t.notOk(found.has(ik('uts:5')), "the thread's namespace gone")
  t.same(shown(found, 'uts:4'), ['50/50'], 'the rest of its process stays')
  found = w.update(x => t.ok(x.exited(50, 50), 'its leader, last of the process'))
  t.notOk(found.has(ik('uts:4')))
  f.task(60, 60, 700, { uts: 6 })
  w.update(x => t.notOk(x.exited(60, 60), 'one never read: to be read, not assumed'))
  t.notOk(w.has(60))
})

t.test('a young process is re-read every scan; an old one when the sweep reaches it', async t => {
  const f = fixture(t)
  f.uptime(1000) // 100000 ticks
  f.task(10, 10, 10, { uts: 1 })
  f.task(11, 11, 11, { uts: 1 })
  f.task(12, 12, 11, { uts: 1 })
  f.task(50, 50, 99900, { uts: 1 }) // one second old
  const w = new TaskWatch(f.root, { sweepPerScan: 1, youngTicks: 300 })
  w.scan()
  f.setNs(50, 50, 'uts', 5) // as unshare(1) does right after starting
  t.same(holdersOf(w, 'uts:5'), ['50/50'], 'young: seen on the next scan')
  f.setNs(10, 10, 'uts', 6) // an old task moves late in life
  let scans = 1
  while (!w.scan().has(ik('uts:6'))) scans++
  t.ok(scans <= 5, `old: seen within one sweep (${scans} scans)`)
  t.same(holdersOf(w, 'uts:1'), ['11/11', '12/12'])
})

t.test('a sweep where events come rechecks: links read, threads and stats not', async t => {
  const f = fixture(t)
  f.task(10, 10, 10, { uts: 1 })
  f.task(11, 11, 11, { uts: 1 })
  const w = new TaskWatch(f.root)
  w.scan()
  // A thread born: it would come as an event.
  f.task(10, 13, 12, { uts: 1 })
  let found = w.update(x => x.sweepSome(2, 'recheck'))
  t.same([...w.rechecked].sort(), [10, 11], 'each rechecked')
  t.same([...w.reread], [], 'neither read whole')
  t.same(shown(found, 'uts:1'), ['10/10', '11/11'], 'the new thread is left to its event')
  f.setNs(11, 11, 'uts', 6)
  found = w.update(x => x.sweepSome(2, 'recheck'))
  t.same([...w.reread], [11], 'a task that moved: its process read again whole')
  t.same(shown(found, 'uts:6'), ['11/11'])
  found = w.update(x => x.sweepSome(2))
  t.same([...w.reread].sort(), [10, 11], 'without events: read whole')
  t.same(shown(found, 'uts:1'), ['10/10', '10/13'], 'and the thread with it')
})

t.test('threads come and go; holders are capped, the oldest kept', async t => {
  const f = fixture(t)
  for (let i = 0; i < 5; i++) f.task(100, 100 + i, 100 + i, { ipc: 9 })
  const w = new TaskWatch(f.root, { maxHolders: 2, youngTicks: 1e9 })
  t.same(holdersOf(w, 'ipc:9'), ['100/100', '100/101'])
  fs.rmSync(path.join(f.root, '100/task/100'), { recursive: true })
  t.same(holdersOf(w, 'ipc:9'), ['100/101', '100/102'], 'a holder shown ends: the next one takes its place')
  fs.rmSync(path.join(f.root, '100/task/104'), { recursive: true })
  w.scan()
  t.same([...w.changed], [], 'a holder not shown ends: nothing to publish')
})

t.test('one thread of several moves: it alone changes namespace, the others are kept', async t => {
  const f = fixture(t)
  for (const tid of [100, 101, 102]) f.task(100, tid, 100, { uts: 1 })
  const w = new TaskWatch(f.root, { youngTicks: 1e9 })
  t.same(holdersOf(w, 'uts:1'), ['100/100', '100/101', '100/102'])
  f.setNs(100, 101, 'uts', 2) // unshare(2) in one thread
  const out = w.update(x => x.readProc(100))
  t.same([...w.changed].sort(), ['uts:1', 'uts:2'])
  t.same(out.get(ik('uts:1'))?.holders.map(h => h.tid), [100, 102], 'the threads that stayed')
  t.same(out.get(ik('uts:2'))?.holders.map(h => h.tid), [101], 'the thread that moved')
  t.equal(w.inoOf(100, 'uts'), 1, 'the main thread is where it was')
})

t.test('a pid reused by a new process is told apart by its start time', async t => {
  const f = fixture(t)
  f.task(70, 70, 99950, { net: 1 })
  const w = new TaskWatch(f.root)
  w.scan()
  f.kill(70)
  f.task(70, 70, 99990, { net: 2 })
  const found = w.scan()
  t.notOk(found.has(ik('net:1')))
  t.same(found.get(ik('net:2'))?.holders, [{ kind: 'task', pid: 70, tid: 70, start: 99990 }])
})

t.test('a task whose links cannot be read holds nothing', async t => {
  const f = fixture(t)
  f.task(2, 2, 5, { uts: 1 })
  f.task(80, 80, 99990, {})
  const w = new TaskWatch(f.root)
  t.same([...w.scan().keys()], ['uts:1'])
})
