// The running containers, found from the processes the discovery already
// holds: each holder's /proc/PID/cgroup is read once (kept while that pid
// lives with the same start time), grouped by the container it names; the
// lowest pid of a container is its init, whose /proc/PID/ns links say its
// namespaces. A container with a namespace of its own has its init among
// that namespace's holders, so nothing beyond the discovery is scanned.
// Every engine mounts a container's root in a mount namespace of its own,
// so only the holders of a mount namespace are read as possible inits: a
// process that made only a uts or net namespace costs no read.
// A runtime puts its new init in the container's cgroup only after it is
// born in the container's namespaces: a young process outside every
// container is asked again, less often as it ages, until it is settled
// (or at once when it execs: runtimes exec the container's command once
// its init is in place).
//
// Incremental: each search looks only at the namespaces that changed since
// the last one, the processes due for another look, and the containers
// they touch; the rest is kept, so a search under a churn of processes
// costs what changed, not the host.
import { cgroupContainer, ContainerSet, CONTAINER_LINKS, type CgroupContainer, type Container } from '../model/containers.js'
import type { Discovery, NsKey, NsType } from '../model/namespace.js'
import { CLOCK_TICKS, readNsLink, readShort, readUptimeTicks } from '../kernel/procfs.js'
import { EngineLabels, type Labelled } from './engine-labels.js'

interface Member {
  readonly start: number
  readonly container: string | undefined
  // In clock ticks since boot; undefined once settled.
  readonly retryAt: number | undefined
}

interface Found {
  readonly c: CgroupContainer
  readonly pids: Set<number>
  // Its init and what was made of it, once made.
  init?: number
  namespaces?: ReadonlyMap<NsType, NsKey>
  labelled?: Labelled | null
  labelledAt?: number
  readonly firstSeen: number
}

// Past this age (in clock ticks) a process outside every container stays so.
const SETTLED_TICKS = 5 * CLOCK_TICKS
// An engine's name for a container is read again at most this often (a
// rename shows after as long), unless its init changed.
const LABEL_TICKS = CLOCK_TICKS

export type ChangedKeys = Iterable<NsKey> | 'all'

export class ContainerFinder {
  // The pids of each namespace's task holders as last looked at: a few at
  // most, one for most, so an array (a Map each took 2.5 MiB more at
  // 20,000 namespaces).
  private readonly holdersOf = new Map<NsKey, readonly number[]>()
  // How many namespaces hold each live pid as a task holder.
  private readonly live = new Map<number, number>()
  private readonly members = new Map<number, Member>()
  // Pids found outside every container while young: asked again.
  private readonly unsettled = new Set<number>()
  private readonly found = new Map<string, Found>()
  private current = new ContainerSet([])

  constructor (
    private readonly procRoot: string,
    private readonly labels: EngineLabels = new EngineLabels(),
    private readonly clock: () => number = () => Date.now(),
  ) {}

  // The containers of `d`, given the namespaces that changed since the
  // last search ('all' at the first); `keyOf` names a namespace by its type
  // and inode number as the discovery knows it. `retryInMs`: when to ask
  // again for young processes not yet settled (undefined: none is).
  find (d: Discovery, keyOf: (type: NsType, ino: number) => NsKey | undefined, changed: ChangedKeys): { containers: ContainerSet, retryInMs: number | undefined } {
    const now = readUptimeTicks(this.procRoot)
    const keys = changed === 'all' ? new Set([...this.holdersOf.keys(), ...d.namespaces.keys()]) : changed
    // The pids to read the cgroup of, with their start times.
    const look = new Map<number, number>()
    const touched = new Set<string>()
    for (const key of keys) {
      const before = this.holdersOf.get(key) ?? []
      const after = new Map<number, number>()
      const ns = d.namespaces.get(key)
      for (const h of ns?.holders ?? []) if (h.kind === 'task' && !after.has(h.pid)) after.set(h.pid, h.start)
      for (const pid of before) if (!after.has(pid)) this.release(pid, touched)
      for (const [pid, start] of after) {
        if (!before.includes(pid)) this.live.set(pid, (this.live.get(pid) ?? 0) + 1)
        const m = this.members.get(pid)
        // A process in a namespace that changed may be a container's init
        // that moved: its container is made again.
        if (m?.container !== undefined) touched.add(m.container)
        // Read when it may be an init, or is a member whose pid was reused.
        if (m?.start !== start && (ns?.type === 'mnt' || m !== undefined)) look.set(pid, start)
      }
      if (after.size > 0) this.holdersOf.set(key, [...after.keys()])
      else this.holdersOf.delete(key)
    }
    for (const pid of this.unsettled) {
      const m = this.members.get(pid)
      if (m !== undefined && (m.retryAt ?? Infinity) <= now && !look.has(pid)) look.set(pid, m.start)
    }
    for (const [pid, start] of look) if (this.live.has(pid)) this.lookAt(pid, start, now, touched)
    if (touched.size > 0 || this.labelsDue(now)) this.current = this.build(touched, keyOf, now)
    let retryAt: number | undefined
    for (const pid of this.unsettled) {
      const at = this.members.get(pid)?.retryAt
      if (at !== undefined) retryAt = Math.min(retryAt ?? Infinity, at)
    }
    const retryInMs = retryAt === undefined ? undefined : Math.max(0, (retryAt - now) * (1000 / CLOCK_TICKS))
    return { containers: this.current, retryInMs }
  }

  // Process `pid` exec'd. A runtime execs a container's command once its
  // init is in the container's cgroup, so a young process found outside
  // every container is asked again at the next search instead of at its
  // next retry. Answers whether it was one such.
  execd (pid: number): boolean {
    const m = this.members.get(pid)
    if (m === undefined || m.container !== undefined || m.retryAt === undefined) return false
    this.members.set(pid, { ...m, retryAt: 0 })
    return true
  }

  // One namespace fewer holds `pid`; at none, it is gone.
  private release (pid: number, touched: Set<string>): void {
    const n = (this.live.get(pid) ?? 1) - 1
    if (n > 0) {
      this.live.set(pid, n)
      return
    }
    this.live.delete(pid)
    this.unsettled.delete(pid)
    const m = this.members.get(pid)
    this.members.delete(pid)
    if (m?.container === undefined) return
    this.found.get(m.container)?.pids.delete(pid)
    touched.add(m.container)
  }

  // Reads the cgroup of `pid` (start time `start`) and files it.
  private lookAt (pid: number, start: number, now: number, touched: Set<string>): void {
    const old = this.members.get(pid)
    if (old?.container !== undefined) {
      this.found.get(old.container)?.pids.delete(pid)
      touched.add(old.container)
    }
    const text = readShort(`${this.procRoot}/${pid}/cgroup`)
    // Gone or not ours to read: no container, asked again if it stays.
    const c = typeof text === 'string' ? cgroupContainer(text) : undefined
    const age = now - start
    // Asked again after as long again as its age (at least 0.1 s).
    const retryAt = c === undefined && age < SETTLED_TICKS ? now + Math.max(10, age) : undefined
    const id = c === undefined ? undefined : `${c.engine}:${c.id}`
    this.members.set(pid, { start, container: id, retryAt })
    if (retryAt === undefined) this.unsettled.delete(pid)
    else this.unsettled.add(pid)
    if (c === undefined || id === undefined) return
    let f = this.found.get(id)
    if (f === undefined) {
      f = { c, pids: new Set(), firstSeen: this.clock() }
      this.found.set(id, f)
    }
    f.pids.add(pid)
    touched.add(id)
  }

  private labelsDue (now: number): boolean {
    for (const f of this.found.values()) if (f.labelledAt === undefined || now - f.labelledAt >= LABEL_TICKS) return true
    return false
  }

  // The set again: the touched containers made anew (their init and its
  // links), the names of those not asked for a while read again.
  private build (touched: ReadonlySet<string>, keyOf: (type: NsType, ino: number) => NsKey | undefined, now: number): ContainerSet {
    const out: Container[] = []
    for (const [id, f] of this.found) {
      if (f.pids.size === 0) {
        this.found.delete(id)
        continue
      }
      const init = Math.min(...f.pids)
      if (touched.has(id) || f.init !== init || f.namespaces === undefined) {
        const namespaces = new Map<NsType, NsKey>()
        for (const type of CONTAINER_LINKS) {
          const link = readNsLink(`${this.procRoot}/${init}/ns/${type}`)
          const key = link === undefined ? undefined : keyOf(type, link.ino)
          if (key !== undefined) namespaces.set(type, key)
        }
        f.init = init
        f.namespaces = namespaces
        f.labelledAt = undefined
      }
      if (f.labelledAt === undefined || now - f.labelledAt >= LABEL_TICKS) {
        f.labelled = this.labels.labelOf(f.c)
        f.labelledAt = now
      }
      // Exited since the scan: the next pass drops it.
      if (f.namespaces === undefined || f.namespaces.size === 0) continue
      out.push({
        engine: f.labelled?.engine ?? f.c.engine,
        id: f.c.id,
        label: f.labelled?.label ?? null,
        pid: init,
        namespaces: f.namespaces,
        firstSeen: f.firstSeen,
      })
    }
    return new ContainerSet(out)
  }
}
