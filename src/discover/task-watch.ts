// Discovery source, incremental: the namespaces of every task, threads
// included, kept up to date process by process instead of re-read whole.
//
// Reading one task is a readdir of its threads, its stat and eight readlinks;
// for 60,000 tasks that is seconds of work. So processes are read one at a
// time, when something says they may have changed: the proc connector's
// fork, exec and exit events (discover/engine.ts), a resync after lost
// events, a slow sweep for what no event reports (setns(2), unshare(2)).
// Without events, a scan polls: it reads the pid list, then new processes,
// young ones (unshare(1) and its kind change namespace right after
// starting, then exec) and a bounded slice of the others, round robin.
import { listPids, listTids, readNsLink, readTaskStat, readUptimeTicks } from '../kernel/procfs.js'
import { inoKey, NS_TYPES, parseInoKey, type InoKey, type NsType, type TaskHolder } from '../model/namespace.js'
import type { Found } from './found.js'

export interface TaskWatchOptions {
  // Holders kept per namespace, oldest first: a few suffice to open it, and
  // the host's own namespaces have one holder per task on the host.
  maxHolders: number
  // A process younger than this (clock ticks) is re-read on every scan.
  youngTicks: number
  // Older processes re-read per scan, round robin.
  sweepPerScan: number
}

export const TASK_WATCH_DEFAULTS: TaskWatchOptions = { maxHolders: 8, youngTicks: 300, sweepPerScan: 400 }

interface Task {
  readonly holder: TaskHolder
  // type:inode per namespace type the task's links showed.
  readonly links: readonly InoKey[]
}

interface Proc {
  start: number
  // An array, not a Map by tid: most processes have one thread.
  tasks: readonly Task[]
}

// Holders are not all kept: the host's own namespaces have one per task
// (60,000 on a large host), and only the oldest few are answered. So a count,
// and the shown ones; when one of those ends while others remain, the next
// oldest are found by a pass over the tasks.
interface NsHolders {
  readonly type: NsType
  readonly ino: number
  // The key, shared by every task's links (one string, not one per task).
  readonly key: InoKey
  count: number
  // Oldest first.
  shown: TaskHolder[]
}

export class TaskWatch {
  private readonly procs = new Map<number, Proc>()
  private readonly byNs = new Map<InoKey, NsHolders>()
  private readonly out: Found<TaskHolder> = new Map()
  private readonly dirty = new Set<InoKey>()
  // Namespaces that lost a shown holder and have more than they show.
  private readonly refill = new Set<NsHolders>()
  private sweep: number[] = []
  private readonly opts: TaskWatchOptions
  // The processes the last update read (all of them at the first), so other
  // per-process sources can follow.
  readonly reread = new Set<number>()
  // The processes the last update rechecked and found as they were (their
  // fds and *_for_children links are read again all the same).
  readonly rechecked = new Set<number>()
  // The namespaces whose answer the last update changed (added, changed
  // holders or gone), so discovery redoes only those.
  readonly changed = new Set<InoKey>()

  constructor (private readonly procRoot: string, opts: Partial<TaskWatchOptions> = {}) {
    this.opts = { ...TASK_WATCH_DEFAULTS, ...opts }
  }

  // One update, however driven: `change` reads and drops processes through
  // this watch; then the view is brought up to date and answered: each
  // namespace by type:inode with its oldest holders. The map is this
  // watch's own; read it before the next update.
  update (change: (watch: this) => void): Found<TaskHolder> {
    this.reread.clear()
    this.rechecked.clear()
    this.changed.clear()
    change(this)
    this.publish()
    return this.out
  }

  // One polling scan (the whole of it without events).
  scan (): Found<TaskHolder> {
    return this.update(() => this.poll())
  }

  private poll (): void {
    if (this.procs.size === 0) {
      this.readAll(listPids(this.procRoot))
      return
    }
    const now = readUptimeTicks(this.procRoot)
    for (const pid of this.resync()) this.readProc(pid)
    for (const [pid, p] of this.procs) if (now - p.start < this.opts.youngTicks && !this.reread.has(pid)) this.readProc(pid)
    this.sweepSome(this.opts.sweepPerScan)
  }

  // The pid list against what is known: the gone are dropped; answers the
  // new, not read yet.
  resync (): number[] {
    const pids = listPids(this.procRoot)
    const live = new Set(pids)
    for (const pid of this.procs.keys()) if (!live.has(pid)) this.dropProc(pid)
    return pids.filter(pid => !this.procs.has(pid))
  }

  // Re-reads up to `n` processes, round robin: each is re-read within one
  // sweep over those known when it began. `how` 'recheck' where events
  // report threads born and processes gone (see recheck), 'read' where
  // nothing does.
  sweepSome (n: number, how: 'read' | 'recheck' = 'read'): void {
    for (let i = 0; i < n; i++) {
      if (this.sweep.length === 0) {
        if (i > 0) break
        this.sweep = [...this.procs.keys()]
        if (this.sweep.length === 0) break
      }
      const pid = this.sweep.pop() as number
      if (!this.procs.has(pid)) continue
      if (how === 'recheck') this.recheck(pid)
      else this.readProc(pid)
    }
  }

  // Every process, read now, oldest task first (the first update).
  readEverything (): void {
    this.readAll(listPids(this.procRoot))
  }

  get size (): number {
    return this.procs.size
  }

  // The first scan sorts every task by age, so each namespace's holders
  // start with its oldest (kthreadd for the host's own).
  private readAll (pids: readonly number[]): void {
    const found: Array<{ pid: number, tasks: Task[] }> = []
    // Nothing is added before all are read, so links share their strings
    // through this table meanwhile (60,000 tasks: 480,000 links, a handful
    // of namespaces for most).
    const keys = new Map<InoKey, InoKey>()
    for (const pid of pids) {
      this.reread.add(pid)
      const tasks = this.readTasks(pid, keys)
      if (tasks !== undefined && tasks.length > 0) found.push({ pid, tasks })
    }
    const all: Task[] = []
    for (const { pid, tasks } of found) {
      this.procs.set(pid, { start: startOf(pid, tasks), tasks })
      all.push(...tasks)
    }
    all.sort((a, b) => byAge(a.holder, b.holder))
    for (const t of all) this.add(t)
  }

  private readTasks (pid: number, keys?: Map<InoKey, InoKey>): Task[] | undefined {
    const tids = listTids(this.procRoot, pid)
    if (tids === undefined) return undefined
    const tasks: Task[] = []
    for (const tid of tids) {
      const stat = readTaskStat(this.procRoot, pid, tid)
      if (stat === undefined || stat.exited) continue
      const { start } = stat
      const links: InoKey[] = []
      for (const type of NS_TYPES) {
        const link = readNsLink(`${this.procRoot}/${pid}/task/${tid}/ns/${type}`)
        if (link === undefined) continue
        const k = inoKey(link.type, link.ino)
        let shared = this.byNs.get(k)?.key ?? keys?.get(k)
        if (shared === undefined) {
          shared = k
          keys?.set(k, k)
        }
        links.push(shared)
      }
      tasks.push({ holder: { kind: 'task', pid, tid, start }, links: links.slice() })
    }
    return tasks.slice()
  }

  // The inode of the `type` namespace process `pid`'s main thread was in
  // when last read or rechecked; undefined when not known.
  inoOf (pid: number, type: NsType): number | undefined {
    const links = this.procs.get(pid)?.tasks.find(t => t.holder.tid === pid)?.links
    const k = links?.find(l => l.startsWith(`${type}:`))
    return k === undefined ? undefined : parseInoKey(k).ino
  }

  // Whether `pid` is a process this watch knows.
  has (pid: number): boolean {
    return this.procs.has(pid)
  }

  // Reads process `pid` again (new, changed or gone since).
  readProc (pid: number): void {
    this.reread.add(pid)
    const tasks = this.readTasks(pid)
    if (tasks === undefined || tasks.length === 0) {
      this.dropProc(pid)
      return
    }
    const old = this.procs.get(pid)
    if (old === undefined) {
      this.procs.set(pid, { start: startOf(pid, tasks), tasks })
      for (const t of tasks) this.add(t)
      return
    }
    const read = new Map(tasks.map(t => [t.holder.tid, t]))
    const kept = old.tasks.filter(t => {
      const now = read.get(t.holder.tid)
      if (now !== undefined && sameTask(t, now)) return true
      this.remove(t)
      return false
    })
    const keptTids = new Set(kept.map(t => t.holder.tid))
    for (const t of tasks) {
      if (keptTids.has(t.holder.tid)) continue
      kept.push(t)
      this.add(t)
    }
    old.tasks = kept.slice()
    old.start = startOf(pid, kept)
  }

  // Whether process `pid` is still in the namespaces it was read in: the
  // links of each task known, without listing its threads or reading its
  // stat (a third of a read). Read again whole when anything differs;
  // threads born since came with events of their own. One not known is
  // gone (its exit dropped it): nothing to read.
  recheck (pid: number): void {
    const p = this.procs.get(pid)
    if (p === undefined || this.reread.has(pid)) return
    for (const t of p.tasks) {
      let i = 0
      for (const type of NS_TYPES) {
        const link = readNsLink(`${this.procRoot}/${pid}/task/${t.holder.tid}/ns/${type}`)
        if (link === undefined) continue
        if (t.links[i++] !== inoKey(link.type, link.ino)) {
          this.readProc(pid)
          return
        }
      }
      if (i !== t.links.length) {
        this.readProc(pid)
        return
      }
    }
    this.rechecked.add(pid)
  }

  // Thread `tid` of process `pid` exited (the proc connector said so):
  // dropped without reading /proc. Answers false where this watch does not
  // know that task (a process forked and gone within one pass), which must
  // be read to be sure.
  exited (pid: number, tid: number): boolean {
    const p = this.procs.get(pid)
    const gone = p?.tasks.find(t => t.holder.tid === tid)
    if (p === undefined || gone === undefined) return false
    if (p.tasks.length === 1) {
      this.dropProc(pid)
      return true
    }
    this.remove(gone)
    p.tasks = without(p.tasks, gone)
    p.start = startOf(pid, p.tasks)
    return true
  }

  dropProc (pid: number): void {
    const p = this.procs.get(pid)
    if (p === undefined) return
    for (const t of p.tasks) this.remove(t)
    this.procs.delete(pid)
  }

  private add (t: Task): void {
    const h = t.holder
    for (const k of t.links) {
      let ns = this.byNs.get(k)
      if (ns === undefined) {
        const { type, ino } = parseInoKey(k)
        ns = { type, ino, key: k, count: 0, shown: [] }
        this.byNs.set(k, ns)
      }
      ns.count++
      // Tasks come oldest first at the first scan, and are younger than
      // every known one after.
      if (ns.shown.length < this.opts.maxHolders) {
        ns.shown = ns.shown.concat([h])
        this.dirty.add(k)
      }
    }
  }

  private remove (t: Task): void {
    for (const k of t.links) {
      const ns = this.byNs.get(k)
      if (ns === undefined) continue
      ns.count--
      if (ns.count === 0) {
        this.byNs.delete(k)
        this.refill.delete(ns)
        this.dirty.add(k)
        continue
      }
      // Only a change among the holders answered matters.
      if (!ns.shown.includes(t.holder)) continue
      ns.shown = without(ns.shown, t.holder)
      if (ns.count > ns.shown.length) this.refill.add(ns)
      this.dirty.add(k)
    }
  }

  // One pass over every task for all the namespaces that lost a shown
  // holder: their oldest holders are shown again.
  private refillShown (): void {
    if (this.refill.size === 0) return
    const wanted = new Map<InoKey, { ns: NsHolders, all: TaskHolder[] }>()
    for (const ns of this.refill) wanted.set(ns.key, { ns, all: [] })
    for (const p of this.procs.values()) {
      for (const t of p.tasks) {
        for (const k of t.links) wanted.get(k)?.all.push(t.holder)
      }
    }
    for (const { ns, all } of wanted.values()) ns.shown = all.sort(byAge).slice(0, this.opts.maxHolders)
    this.refill.clear()
  }

  private publish (): void {
    this.refillShown()
    if (this.dirty.size === 0) return
    for (const k of this.dirty) {
      this.changed.add(k)
      const ns = this.byNs.get(k)
      if (ns === undefined) {
        this.out.delete(k)
        continue
      }
      this.out.set(k, { type: ns.type, ino: ns.ino, holders: ns.shown })
    }
    this.dirty.clear()
  }
}

// The arrays kept here (a task's links, a process's tasks, a namespace's
// holders) are made at their size by slice and concat: one grown by push,
// spread or filter keeps room for 17 elements, 152 bytes, where most hold
// one. A holders array per namespace and two per process: 6 MiB at 20,000.
function without<T> (a: readonly T[], x: T): T[] {
  const i = a.indexOf(x)
  return a.slice(0, i).concat(a.slice(i + 1))
}

function sameTask (a: Task, b: Task): boolean {
  return a.holder.start === b.holder.start && a.links.length === b.links.length && a.links.every((l, i) => l === b.links[i])
}

function startOf (pid: number, tasks: readonly Task[]): number {
  const leader = tasks.find(t => t.holder.tid === pid) ?? tasks[0]
  return leader === undefined ? 0 : leader.holder.start
}

function byAge (a: TaskHolder, b: TaskHolder): number {
  return a.start - b.start || a.pid - b.pid || a.tid - b.tid
}
