// What drives discovery: the kernel's events where it gives them, the clock
// only for what it does not. A process is read when the proc connector says
// it was forked or exec'd (that is when `unshare CMD` and the runtimes
// change namespace) and again a few times in its first seconds (unshare(2)
// without an exec), dropped when it exits; a mount namespace's bind mounts
// are read when fanotify says one was attached or detached there. A slow
// sweep re-reads every process once per period for what nothing reports
// (setns(2) or unshare(2) late in a life). Without the connector (no
// CAP_NET_ADMIN, a container, a kernel without CONFIG_PROC_EVENTS) or after
// events were lost, it polls and rescans as nsfs always did, and says so in
// one line.
//
// Everything runs on the main thread, in passes small enough that FUSE
// requests are answered in between.
import { FdWatch, UV_READABLE } from '../kernel/fd-poll.js'
import { MountWatch } from '../kernel/mount-events.js'
import { isGone } from '../kernel/procfs.js'
import { ProcConnector, type ProcEvent } from '../kernel/proc-connector.js'
import type { Logger } from '../log.js'
import { Pacer } from '../pacer.js'
import type { DiscoveryDelta } from '../model/discovery-delta.js'
import type { Discoverer, PassOptions } from './discover.js'
import type { MountNsTask } from './from-mounts.js'

export interface EngineOptions {
  // 'off': poll only (as without the connector).
  readonly events: 'auto' | 'off'
  // Between scans when polling, in ms.
  readonly intervalMs: number
  // Every process is re-read at least once per this many seconds (events
  // on), or per N ms for N processes, whichever is longer.
  readonly sweepSeconds: number
  // The proc connector's receive buffer: how large a burst of events fits
  // before any is lost.
  readonly eventBufferBytes: number
  readonly log: Logger
  readonly onDelta: (delta: DiscoveryDelta) => void
  // Thread `pid` exec'd, changed its uid or gid, or exited: what it may
  // see may have changed (and an exec'd one may have joined a container).
  readonly onTaskChanged?: (pid: number, why: 'exec' | 'id' | 'exit') => void
  readonly onFatal: (err: Error) => void
}

// After a fork or an exec, a process is read again this many ms later:
// unshare(2) and setns(2) right after starting make no event. The first
// recheck reads its links; the later ones its fds as well (a namespace
// made, opened and left, held by the fd alone, shows at the second).
export const YOUNG_DELAYS_MS = [20, 200, 2000] as const
// Processes read per pass: a pass reads a process in about 50 µs, so a
// burst of events is taken in slices of a few ms, FUSE answered between.
const PER_PASS = 64
const SWEEP_TICK_MS = 5000
const PASS_GAP_MS = 30
// A young process's recheck is taken up to this much early, with others
// due about then: a churn of forks wakes the daemon once per few rechecks,
// not once for each.
const YOUNG_SLACK_MS = 10
// The connector answers a request to listen at once; no answer means it
// ignores us (not in the initial user and pid namespaces).
const ACK_MS = 1000

export type Mode = 'events' | 'poll'

export class Engine {
  private mode: Mode = 'poll'
  private connector: ProcConnector | undefined
  private connectorWatch: FdWatch | undefined
  // Not watched until the pass due next, which reads what came meanwhile:
  // under a stream of events, one wakeup per pass instead of one per event.
  private connectorPaused = false
  private acked = false
  private ackTimer: NodeJS.Timeout | undefined
  private readonly dirty = new Set<number>()
  // Processes forked since their last read, by their parent's tgid: their
  // fds are a copy of the parent's (discover/discover.ts).
  private readonly forkedFrom = new Map<number, number>()
  // Tasks whose exit came, as [tgid, tid]: dropped without a read.
  private exits: Array<readonly [number, number]> = []
  // Young processes due for a recheck (discover/task-watch.ts), each with
  // whether it is their first, which reads links only (YOUNG_DELAYS_MS).
  private readonly youngDue = new Map<number, boolean>()
  private readonly dirtyMounts = new Set<number>()
  // Per delay, pids due for a re-read, in the order they are due, each
  // with the fork or exec it follows.
  private readonly young = YOUNG_DELAYS_MS.map(() => [] as Array<{ pid: number, due: number, since: number }>)
  // The last fork or exec of each young process: a later one starts its
  // rechecks over (fork then exec is one start, not two), an exit ends them.
  private readonly youngSince = new Map<number, number>()
  private youngTimer: NodeJS.Timeout | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  // When the sweep last polled mounts and listns(2).
  private sweepExtrasAt = -Infinity
  private pollTimer: NodeJS.Timeout | undefined
  private mountTimer: NodeJS.Timeout | undefined
  private sliceQueued = false
  // What the last pass for events cost (a resync, which reads everything,
  // does not count: it would hold back the events after it).
  private eventPassMs = 0
  private readonly pacer = new Pacer(() => this.passDirty(), () => Math.max(PASS_GAP_MS, 3 * this.eventPassMs))
  private resyncAll = false
  private readonly mountWatches = new Map<number, { watch: MountWatch, fd: FdWatch }>()
  // Mount events are unavailable: mounts are read again on every poll.
  private mountsPolled = false
  private stopped = false
  private interval: number

  constructor (private readonly discoverer: Discoverer, private readonly opts: EngineOptions) {
    this.interval = opts.intervalMs
  }

  get current (): Mode {
    return this.mode
  }

  // Subscribes, runs the first pass (every process), posts it, and goes on.
  start (): void {
    if (this.opts.events === 'auto') this.subscribe()
    const started = performance.now()
    this.discoverer.pass(tasks => tasks.readEverything(), { mounts: 'all', listns: true })
    this.post()
    this.syncMountWatches()
    if (this.connector === undefined) this.poll(performance.now() - started)
  }

  // Everything now (SIGHUP), and from then on polls every `intervalMs`.
  rescan (intervalMs: number): void {
    this.interval = intervalMs
    if (this.mode === 'poll') {
      if (this.pollTimer !== undefined) clearTimeout(this.pollTimer)
      this.poll(0, true)
      return
    }
    this.resyncAll = true
    this.schedule()
  }

  stop (): void {
    this.stopped = true
    for (const t of [this.ackTimer, this.youngTimer, this.sweepTimer, this.pollTimer, this.mountTimer]) if (t !== undefined) clearTimeout(t)
    this.pacer.stop()
    this.closeConnector()
    for (const { watch, fd } of this.mountWatches.values()) { fd.stop(); watch.close() }
    this.mountWatches.clear()
  }

  private subscribe (): void {
    try {
      this.connector = ProcConnector.open(this.opts.eventBufferBytes)
    } catch (err) {
      this.fallBack(`the proc connector cannot be opened (${err instanceof Error ? err.message : String(err)})`)
      return
    }
    const c = this.connector
    this.connectorWatch = new FdWatch(c.fd, UV_READABLE, (_events, error) => {
      this.drainConnector()
      if (this.pacer.waiting && this.connectorWatch !== undefined) {
        this.connectorWatch.pause()
        this.connectorPaused = true
        return
      }
      // An overflow reads as POLLERR, which stops the watch: the drain
      // took the error, so watching goes on.
      if (error !== undefined) this.watchConnectorAgain()
    })
    this.ackTimer = setTimeout(() => {
      // Timers run before readiness: after a first pass longer than the
      // wait (10,000 processes), the answer is read here.
      if (!this.acked) this.drainConnector()
      if (!this.acked) this.fallBack('the proc connector does not answer (not in the initial user and pid namespaces?)')
    }, ACK_MS)
  }

  private closeConnector (): void {
    this.connectorWatch?.stop()
    this.connector?.close()
    this.connectorWatch = undefined
    this.connector = undefined
  }

  // Polling from now on, said once.
  private fallBack (why: string): void {
    if (this.stopped) return
    this.opts.log('warn', `${why}: discovery polls /proc every ${this.interval} ms instead of following the kernel's events`)
    this.closeConnector()
    this.mode = 'poll'
    for (const t of [this.sweepTimer, this.mountTimer]) if (t !== undefined) clearTimeout(t)
    if (this.pollTimer === undefined) this.poll(0)
  }

  // After a pause or an error; false when that failed (and discovery fell
  // back to polling).
  private watchConnectorAgain (): boolean {
    try {
      this.connectorWatch?.restart()
      return true
    } catch (err) {
      this.fallBack(err instanceof Error ? err.message : String(err))
      return false
    }
  }

  private drainConnector (): void {
    if (this.receiveEvents()) this.schedule()
  }

  // Takes every event waiting; false when the connector failed (and
  // discovery fell back to polling).
  private receiveEvents (): boolean {
    const c = this.connector
    if (c === undefined) return false
    try {
      for (;;) {
        const r = c.receive()
        if (r.kind === 'empty') break
        if (r.kind === 'overflow') {
          this.opts.log('warn', 'the proc connector lost events (ENOBUFS): resynchronising with a scan of /proc')
          this.resyncAll = true
          continue
        }
        if (r.kind === 'event') this.onEvent(r.event)
      }
    } catch (err) {
      this.fallBack(err instanceof Error ? err.message : String(err))
      return false
    }
    return true
  }

  private onEvent (e: ProcEvent): void {
    switch (e.kind) {
      case 'ack':
        if (this.acked) return
        if (e.error !== 0) {
          this.fallBack(`the proc connector refused to report events (errno ${e.error})`)
          return
        }
        this.acked = true
        if (this.ackTimer !== undefined) clearTimeout(this.ackTimer)
        this.connector?.filter()
        this.mode = 'events'
        // What happened between the first pass and the answer.
        this.resyncAll = true
        this.tickSweep()
        return
      case 'fork':
      case 'exec':
        this.dirty.add(e.tgid)
        this.youngAgain(e.tgid)
        if (e.kind === 'fork' && e.pid === e.tgid) this.forkedFrom.set(e.pid, e.parentTgid)
        else this.forkedFrom.delete(e.tgid)
        if (e.kind === 'exec') this.opts.onTaskChanged?.(e.pid, 'exec')
        return
      case 'exit':
        this.exits.push([e.tgid, e.pid])
        if (e.pid === e.tgid) {
          this.youngSince.delete(e.tgid)
          this.forkedFrom.delete(e.tgid)
        }
        this.opts.onTaskChanged?.(e.pid, 'exit')
        return
      case 'id':
        this.opts.onTaskChanged?.(e.pid, 'id')
    }
  }

  private youngAgain (pid: number): void {
    const now = performance.now()
    this.youngSince.set(pid, now)
    YOUNG_DELAYS_MS.forEach((d, i) => this.young[i]?.push({ pid, due: now + d, since: now }))
    this.armYoung()
  }

  private armYoung (): void {
    if (this.youngTimer !== undefined || this.stopped) return
    const next = Math.min(...this.young.map(q => q[0]?.due ?? Infinity))
    if (next === Infinity) return
    this.youngTimer = setTimeout(() => {
      this.youngTimer = undefined
      const upTo = performance.now() + YOUNG_SLACK_MS
      const last = this.young.length - 1
      this.young.forEach((q, i) => {
        for (let e = q[0]; e !== undefined && e.due <= upTo; e = q[0]) {
          q.shift()
          if (this.youngSince.get(e.pid) !== e.since) continue
          this.youngDue.set(e.pid, i === 0)
          if (i === last) this.youngSince.delete(e.pid)
        }
      })
      this.schedule()
      this.armYoung()
    }, Math.max(0, next - performance.now()))
  }

  // A slice of the sweep: all processes within the period, in slices of
  // what falls due every SWEEP_TICK_MS, at most PER_PASS processes each so
  // that FUSE is answered between (at 60,000 one slice of 5 s was 5,000
  // processes, 0.7 s without an answer). Polled mounts and listns(2) follow
  // every SWEEP_TICK_MS, not every slice.
  private tickSweep (): void {
    if (this.stopped || this.mode !== 'events') return
    const n = this.discoverer.tasks.size
    const periodMs = Math.max(this.opts.sweepSeconds * 1000, n)
    const share = Math.min(PER_PASS, n, Math.ceil(n * SWEEP_TICK_MS / periodMs))
    const now = performance.now()
    const extras = now - this.sweepExtrasAt >= SWEEP_TICK_MS
    if (extras) this.sweepExtrasAt = now
    // Threads born and processes gone come as events: the links of each
    // task known are all the sweep needs to read.
    this.run(tasks => tasks.sweepSome(share, 'recheck'), { mounts: this.mountsPolled && extras ? 'all' : new Set(), listns: extras })
    this.sweepTimer = setTimeout(() => this.tickSweep(), share === 0 ? SWEEP_TICK_MS : share * periodMs / n)
  }

  // A pass for what events made dirty: at once after a quiet spell, and
  // under a stream of events no sooner than PASS_GAP_MS (or three times
  // what the last pass cost) after the last, so a burst is read in a few
  // passes instead of one per event.
  private schedule (): void {
    if (!this.stopped) this.pacer.ask()
  }

  private passDirty (): void {
    if (this.stopped) return
    if (this.connectorPaused) {
      this.connectorPaused = false
      if (!this.receiveEvents() || !this.watchConnectorAgain()) return
    }
    const batch: number[] = []
    const rechecks: number[] = []
    const linksOnly = new Set<number>()
    const exits = this.exits
    this.exits = []
    if (!this.resyncAll) {
      for (const pid of this.dirty) {
        batch.push(pid)
        this.dirty.delete(pid)
        if (batch.length >= PER_PASS) break
      }
      for (const [pid, first] of this.youngDue) {
        if (batch.length + rechecks.length >= PER_PASS) break
        this.youngDue.delete(pid)
        if (first) linksOnly.add(pid)
        if (!this.dirty.has(pid)) rechecks.push(pid)
      }
    }
    // Forked from a parent that holds no namespace by fd: nothing to find
    // in the copy of its fds.
    const inherited = new Set<number>()
    for (const pid of batch) {
      const parent = this.forkedFrom.get(pid)
      if (parent === undefined) continue
      this.forkedFrom.delete(pid)
      if (this.discoverer.tasks.has(parent) && !this.discoverer.holdsByFd(parent)) inherited.add(pid)
    }
    const resync = this.resyncAll
    this.resyncAll = false
    const mounts = resync ? 'all' as const : new Set(this.dirtyMounts)
    this.dirtyMounts.clear()
    const started = performance.now()
    this.run(tasks => {
      // The new are read in slices after this one.
      if (resync) for (const pid of tasks.resync()) this.dirty.add(pid)
      // Before the reads: a pid reused since its exit is read as new.
      for (const [pid, tid] of exits) if (!tasks.exited(pid, tid) && !batch.includes(pid)) this.dirty.add(pid)
      for (const pid of batch) tasks.readProc(pid)
      for (const pid of rechecks) tasks.recheck(pid)
    }, { mounts, listns: resync, linksOnly, fdsInherited: inherited })
    if (resync) this.opts.log('debug', `rescan: ${this.discoverer.tasks.size} processes listed, ${this.dirty.size} new to read, every mount namespace read, in ${(performance.now() - started).toFixed(1)} ms`)
    else this.eventPassMs = performance.now() - started
    // Slices of a burst follow at once: FUSE requests are answered between
    // them, and their events are not waiting on each other.
    if (this.dirty.size + this.youngDue.size + this.exits.length > 0 && !this.sliceQueued) {
      this.sliceQueued = true
      setImmediate(() => {
        this.sliceQueued = false
        this.passDirty()
      })
    }
  }

  private run (change: Parameters<Discoverer['pass']>[0], opts: PassOptions): void {
    try {
      this.discoverer.pass(change, opts)
    } catch (err) {
      this.opts.onFatal(err instanceof Error ? err : new Error(String(err)))
      return
    }
    this.post()
    this.syncMountWatches()
  }

  private post (): void {
    if (this.discoverer.pending) this.opts.onDelta(this.discoverer.takeDelta())
  }

  // Polling: a whole scan, then the next at most 40 % of the time later.
  private poll (lastMs: number, forced = false): void {
    this.pollTimer = undefined
    if (this.stopped) return
    const started = performance.now()
    if (lastMs === 0 || forced) {
      try {
        this.discoverer.scan()
      } catch (err) {
        this.opts.onFatal(err instanceof Error ? err : new Error(String(err)))
        return
      }
      this.post()
      this.syncMountWatches()
    }
    const took = lastMs === 0 || forced ? performance.now() - started : lastMs
    this.pollTimer = setTimeout(() => this.poll(0), Math.max(this.interval, 1.5 * took))
  }

  // One fanotify watch per mount namespace a task is in; without them,
  // mounts are polled.
  private syncMountWatches (): void {
    if (this.mode === 'poll' || this.mountsPolled) return
    const live = new Map<number, MountNsTask>()
    for (const t of this.discoverer.mountNamespaces) live.set(t.mntIno, t)
    for (const [ino, w] of this.mountWatches) {
      if (live.has(ino)) continue
      w.fd.stop()
      w.watch.close()
      this.mountWatches.delete(ino)
    }
    let added = false
    for (const [ino, t] of live) {
      if (this.mountWatches.has(ino)) continue
      const nsPath = t.pid === t.tid ? `/proc/${t.pid}/ns/mnt` : `/proc/${t.pid}/task/${t.tid}/ns/mnt`
      let watch: MountWatch
      try {
        watch = MountWatch.open(nsPath)
      } catch (err) {
        // The task left since; its namespace is watched through another.
        if (isGone(err)) continue
        this.opts.log('warn', `mount events are unavailable (${err instanceof Error ? err.message : String(err)}): mounts are read again every ${this.interval} ms`)
        this.mountsPolled = true
        for (const w of this.mountWatches.values()) { w.fd.stop(); w.watch.close() }
        this.mountWatches.clear()
        this.pollMounts()
        return
      }
      const fd = new FdWatch(watch.fd, UV_READABLE, () => {
        if (watch.drain() > 0) this.dirtyMounts.add(ino)
        this.schedule()
      })
      this.mountWatches.set(ino, { watch, fd })
      // Its mounts were read before the watch was made: a mount made in
      // between is seen by reading them once more.
      this.dirtyMounts.add(ino)
      added = true
    }
    if (added) this.schedule()
  }

  private pollMounts (): void {
    if (this.stopped || this.mode !== 'events') return
    this.run(() => {}, { mounts: 'all', listns: false })
    this.mountTimer = setTimeout(() => this.pollMounts(), this.interval)
  }
}
