// One discovery pass: gather holders from every source, describe what is new,
// and return an immutable snapshot. Readers never see a half-built one.
import { holderPath, nsKey, type Discovery, type Holder, type Namespace, type NsKey } from '../model/namespace.js'
import type { NsDescriber, NsMeta } from '../kernel/describe.js'
import { readNsLink } from '../kernel/procfs.js'
import { holderTag } from './from-tasks.js'
import { TaskWatch } from './task-watch.js'

export class Discoverer {
  // Holder tags last seen per `${type}:${ino}`: if none of them holds the
  // inode now, it may have been reused by another namespace.
  private previous = new Map<string, Set<string>>()
  private readonly tasks: TaskWatch
  // The last snapshot and the task view it was built from: unchanged tasks
  // answer the same snapshot, so the daemon has nothing to rebuild.
  private last: { version: number, discovery: Discovery } | undefined

  constructor (
    private readonly procRoot: string,
    private readonly describer: NsDescriber,
    private readonly selfPid: number = process.pid,
  ) {
    this.tasks = new TaskWatch(procRoot)
  }

  run (): Discovery {
    const started = performance.now()
    const tasks = this.tasks.scan()
    if (this.last?.version === this.tasks.version) return this.last.discovery
    const metas = new Map<NsKey, NsMeta>()
    const holders = new Map<NsKey, Holder[]>()
    const next = new Map<string, Set<string>>()

    for (const [inoKey, found] of tasks) {
      const tags = new Set(found.holders.map(holderTag))
      const before = this.previous.get(inoKey)
      const fresh = before === undefined || ![...tags].some(t => before.has(t))
      let meta: NsMeta | undefined
      for (const h of found.holders) {
        meta = this.describer.describe(holderPath(h, found.type, this.procRoot), found.type, found.ino, fresh)
        if (meta !== undefined) break
      }
      if (meta === undefined) continue
      next.set(inoKey, tags)
      const key = nsKey(meta)
      holders.set(key, [...(holders.get(key) ?? []), ...found.holders])
      for (const m of this.describer.lineage(key)) metas.set(nsKey(m), m)
    }
    this.previous = next

    const rootPath = `${this.procRoot}/${this.selfPid}/ns/user`
    const rootLink = readNsLink(rootPath)
    const rootMeta = rootLink && this.describer.describe(rootPath, 'user', rootLink.ino, false)
    if (rootMeta === undefined) throw new Error(`cannot describe the daemon's own user namespace at ${rootPath}`)

    const namespaces = new Map<NsKey, Namespace>()
    for (const [key, meta] of metas) namespaces.set(key, { ...meta, holders: holders.get(key) ?? [] })
    this.describer.retain(new Set(namespaces.keys()))
    const discovery: Discovery = {
      root: nsKey(rootMeta),
      namespaces,
      scannedAt: Date.now(),
      durationMs: performance.now() - started,
    }
    this.last = { version: this.tasks.version, discovery }
    return discovery
  }
}
