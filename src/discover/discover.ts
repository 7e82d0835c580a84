// One discovery pass: gather holders from every source, describe what is new,
// and return an immutable snapshot. Readers never see a half-built one.
import { holderPath, NS_TYPES, nsKey, type Discovery, type Holder, type Namespace, type NsKey } from '../model/namespace.js'
import type { NsDescriber, NsMeta } from '../kernel/describe.js'
import type { Listns } from '../kernel/listns.js'
import { readNsLink } from '../kernel/procfs.js'
import { foundOf, mergeFound, type Found } from './found.js'
import { forChildrenOnly, readProcForChildren } from './from-children.js'
import { readProcFds } from './from-fds.js'
import { mountNamespaceTasks, scanMounts } from './from-mounts.js'
import { holderTag } from './from-tasks.js'
import { PerProcess } from './per-process.js'
import { TaskWatch } from './task-watch.js'

export class Discoverer {
  // Holder tags last seen per `${type}:${ino}`: if none of them holds the
  // inode now, it may have been reused by another namespace.
  private previous = new Map<string, Set<string>>()
  private readonly tasks: TaskWatch
  // Open fds and *_for_children links, re-read along with the tasks.
  private readonly fds: PerProcess
  private readonly forChildren: PerProcess
  // The last snapshot and what it was built from: when neither the task view
  // nor the other sources changed, the same snapshot is answered, so the
  // daemon has nothing to rebuild.
  private last: { version: number, others: string, discovery: Discovery } | undefined

  constructor (
    private readonly procRoot: string,
    private readonly describer: NsDescriber,
    private readonly selfPid: number = process.pid,
    // The kernel's own list, where it has listns(2).
    private readonly listns: Listns | undefined = undefined,
  ) {
    this.tasks = new TaskWatch(procRoot)
    this.fds = new PerProcess(pid => readProcFds(procRoot, pid, selfPid))
    this.forChildren = new PerProcess(pid => readProcForChildren(procRoot, pid))
  }

  run (): Discovery {
    const started = performance.now()
    const tasks = this.tasks.scan()
    const ownMnt = readNsLink(`${this.procRoot}/${this.selfPid}/ns/mnt`)?.ino
    // Tasks first (their handles outlive an fd or a mount most often), then
    // namespaces for future children, open fds, and bind mounts in every
    // mount namespace a task is in.
    const isLive = (pid: number): boolean => this.tasks.has(pid)
    this.fds.update(this.tasks.reread, isLive)
    this.forChildren.update(this.tasks.reread, isLive)
    const others = mergeFound([
      forChildrenOnly(this.forChildren.sightings(), tasks),
      foundOf(this.fds.sightings()),
      scanMounts(this.procRoot, mountNamespaceTasks(tasks), ownMnt),
    ])
    const othersTag = signature(others)
    // listns(2) may list what no source sees: without it, unchanged sources
    // mean an unchanged host.
    if (this.listns === undefined && this.last?.version === this.tasks.version && this.last.others === othersTag) return this.last.discovery
    const found = mergeFound([tasks, others])
    const metas = new Map<NsKey, NsMeta>()
    const holders = new Map<NsKey, Holder[]>()
    const next = new Map<string, Set<string>>()

    for (const [inoKey, entry] of found) {
      const tags = new Set(entry.holders.map(holderTag))
      const before = this.previous.get(inoKey)
      const fresh = before === undefined || ![...tags].some(t => before.has(t))
      let meta: NsMeta | undefined
      for (const h of entry.holders) {
        meta = this.describer.describe(holderPath(h, entry.type, this.procRoot), entry.type, entry.ino, fresh)
        if (meta !== undefined) break
      }
      if (meta === undefined) continue
      next.set(inoKey, tags)
      const key = nsKey(meta)
      holders.set(key, [...(holders.get(key) ?? []), ...entry.holders])
      for (const m of this.describer.lineage(key)) metas.set(nsKey(m), m)
    }
    this.previous = next

    const listed = this.listns === undefined ? new Set<NsKey>() : this.fromListns(metas)

    const rootPath = `${this.procRoot}/${this.selfPid}/ns/user`
    const rootLink = readNsLink(rootPath)
    const rootMeta = rootLink && this.describer.describe(rootPath, 'user', rootLink.ino, false)
    if (rootMeta === undefined) throw new Error(`cannot describe the daemon's own user namespace at ${rootPath}`)

    const namespaces = new Map<NsKey, Namespace>()
    for (const [key, meta] of metas) {
      const ns: Namespace = { ...meta, holders: holders.get(key) ?? [] }
      namespaces.set(key, listed.has(key) ? { ...ns, listed: true } : ns)
    }
    this.describer.retain(new Set(namespaces.keys()))
    const discovery: Discovery = {
      root: nsKey(rootMeta),
      namespaces,
      scannedAt: Date.now(),
      durationMs: performance.now() - started,
    }
    this.last = { version: this.tasks.version, others: othersTag, discovery }
    return discovery
  }

  // Every id listns(2) gives: those the /proc sources missed are opened by id
  // and described (they have no holder to hand out). Answers the listed keys.
  private fromListns (metas: Map<NsKey, NsMeta>): Set<NsKey> {
    const listed = new Set<NsKey>()
    for (const type of NS_TYPES) {
      for (const id of this.listns?.ids(type) ?? []) {
        const key = nsKey({ type, id: id.toString(), dev: 0, ino: 0 })
        listed.add(key)
        if (metas.has(key)) continue
        const meta = this.describer.describeById(type, id)
        if (meta === undefined) continue
        for (const m of this.describer.lineage(nsKey(meta))) metas.set(nsKey(m), m)
      }
    }
    return listed
  }
}

// What a source found, as one string to compare with the last pass's.
function signature (found: Found): string {
  const parts: string[] = []
  for (const [k, { holders }] of found) parts.push(`${k}=${holders.map(holderTag).join(',')}`)
  return parts.sort().join(';')
}
