// The running containers, found from the processes the discovery already
// holds: each holder's /proc/PID/cgroup is read once (kept while that pid
// lives with the same start time), grouped by the container it names; the
// lowest pid of a container is its init, whose /proc/PID/ns links say its
// namespaces. A container with a namespace of its own has its init among
// that namespace's holders, so nothing beyond the discovery is scanned.
// A runtime puts its new init in the container's cgroup only after it is
// born in the container's namespaces: a young process outside every
// container is asked again, less often as it ages, until it is settled.
import { cgroupContainer, ContainerSet, CONTAINER_LINKS, type CgroupContainer, type Container } from '../model/containers.js'
import type { Discovery, NsKey, NsType } from '../model/namespace.js'
import { CLOCK_TICKS, readNsLink, readShort, readUptimeTicks } from '../kernel/procfs.js'
import { EngineLabels } from './engine-labels.js'

interface Member {
  readonly start: number
  readonly container: CgroupContainer | undefined
  // In clock ticks since boot; undefined once settled.
  readonly retryAt: number | undefined
}

// Past this age (in clock ticks) a process outside every container stays so.
const SETTLED_TICKS = 5 * CLOCK_TICKS

export class ContainerFinder {
  private readonly members = new Map<number, Member>()
  private readonly firstSeen = new Map<string, number>()

  constructor (
    private readonly procRoot: string,
    private readonly labels: EngineLabels = new EngineLabels(),
  ) {}

  // The containers of `d`; `keyOf` names a namespace by its type and inode
  // number as the discovery knows it. `retryInMs`: when to ask again for
  // young processes not yet settled (undefined: none is).
  find (d: Discovery, keyOf: (type: NsType, ino: number) => NsKey | undefined): { containers: ContainerSet, retryInMs: number | undefined } {
    const now = readUptimeTicks(this.procRoot)
    let retryAt: number | undefined
    const inits = new Map<string, { c: CgroupContainer, pid: number }>()
    const live = new Set<number>()
    for (const ns of d.namespaces.values()) {
      for (const h of ns.holders) {
        if (h.kind !== 'task' || live.has(h.pid)) continue
        live.add(h.pid)
        const m = this.memberOf(h.pid, h.start, now)
        if (m?.retryAt !== undefined) retryAt = Math.min(retryAt ?? Infinity, m.retryAt)
        const c = m?.container
        if (c === undefined) continue
        const id = `${c.engine}:${c.id}`
        const seen = inits.get(id)
        if (seen === undefined || h.pid < seen.pid) inits.set(id, { c, pid: h.pid })
      }
    }
    for (const pid of this.members.keys()) if (!live.has(pid)) this.members.delete(pid)
    for (const id of this.firstSeen.keys()) if (!inits.has(id)) this.firstSeen.delete(id)
    const out: Container[] = []
    for (const [id, { c, pid }] of inits) {
      const namespaces = new Map<NsType, NsKey>()
      for (const type of CONTAINER_LINKS) {
        const link = readNsLink(`${this.procRoot}/${pid}/ns/${type}`)
        const key = link === undefined ? undefined : keyOf(type, link.ino)
        if (key !== undefined) namespaces.set(type, key)
      }
      // Exited since the scan: the next pass drops it.
      if (namespaces.size === 0) continue
      const labelled = this.labels.labelOf(c)
      if (!this.firstSeen.has(id)) this.firstSeen.set(id, Date.now())
      out.push({
        engine: labelled?.engine ?? c.engine,
        id: c.id,
        label: labelled?.label ?? null,
        pid,
        namespaces,
        firstSeen: this.firstSeen.get(id) ?? Date.now(),
      })
    }
    const retryInMs = retryAt === undefined ? undefined : Math.max(0, (retryAt - now) * (1000 / CLOCK_TICKS))
    return { containers: new ContainerSet(out), retryInMs }
  }

  private memberOf (pid: number, start: number, now: number): Member | undefined {
    const known = this.members.get(pid)
    if (known !== undefined && known.start === start && (known.retryAt === undefined || known.retryAt > now)) return known
    const text = readShort(`${this.procRoot}/${pid}/cgroup`)
    // Gone or not ours to read: no container, asked again if it stays.
    if (typeof text !== 'string') return undefined
    const container = cgroupContainer(text)
    const age = now - start
    // Asked again after as long again as its age (at least 0.1 s).
    const retryAt = container === undefined && age < SETTLED_TICKS ? now + Math.max(10, age) : undefined
    const m: Member = { start, container, retryAt }
    this.members.set(pid, m)
    return m
  }
}
