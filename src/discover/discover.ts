// Discovery, kept up to date pass by pass: gather holders from every source,
// describe what is new, and keep the namespace map. A pass redoes only the
// namespaces whose holders changed (the task watch says which; the other
// sources are small and compared whole), so on a large host its cost follows
// the change, not the host. What drives the passes (events, or polling) is
// engine.ts's; `run()` answers an immutable snapshot of one polling pass,
// `takeDelta()` what changed since the last delta.
import { holderPath, NS_TYPES, nsKey, type Discovery, type Holder, type InoKey, type Namespace, type NsKey } from '../model/namespace.js'
import type { DiscoveryDelta } from '../model/discovery-delta.js'
import type { NsDescription } from '../kernel/describe.js'
import type { Listns } from '../kernel/listns.js'
import { readNsLink } from '../kernel/procfs.js'
import type { NsDescriber } from './describe-cache.js'
import { foundOf, holderTag, mergeFound, type Found, type Sighted as Sources } from './found.js'
import { forChildrenOnly, readProcForChildren } from './from-children.js'
import { readProcFds } from './from-fds.js'
import { mountNamespaceTasks, readMountNamespace, type MountNsTask } from './from-mounts.js'
import { PerProcess } from './per-process.js'
import { TaskWatch, type TaskWatchOptions } from './task-watch.js'

export interface PassOptions {
  // The mount namespaces whose mounts to read again, by inode: all, or
  // those named (a mount namespace not read before always is).
  readonly mounts: 'all' | ReadonlySet<number>
  // Whether to ask listns(2) again, where the kernel has it.
  readonly listns: boolean
  // Processes rechecked for their links alone, their fds left as last
  // read (a rechecked process's fds are read again otherwise).
  readonly linksOnly?: ReadonlySet<number>
  // Processes just forked whose parent holds no namespace by fd: their fds
  // are a copy of the parent's, so are not read. One opened since is found
  // by an exec or the sweep, as any fd opened late is.
  readonly fdsInherited?: ReadonlySet<number>
}

const POLL: PassOptions = { mounts: 'all', listns: true }

// One type:inode as the sources last saw it: its holders (if none of them
// holds the inode at the next change, it may have been reused by another
// namespace), and the namespace it was described as; undefined when no
// holder could be opened (then it is tried again every pass).
interface Sighted {
  readonly holders: readonly Holder[]
  readonly key: NsKey | undefined
}

export class Discoverer {
  readonly tasks: TaskWatch
  // Open fds and *_for_children links, re-read along with the tasks.
  private readonly fds: PerProcess
  private readonly forChildren: PerProcess
  // The nsfs bind mounts of each mount namespace, by its inode, as last read.
  private readonly mounts = new Map<number, Found>()
  private mountTasks: MountNsTask[] = []
  // What the other sources answered last pass, per type:inode with its
  // holder tags joined, to tell which of them changed.
  private others = new Map<InoKey, string>()
  private readonly sighted = new Map<InoKey, Sighted>()
  private readonly failed = new Set<InoKey>()
  // The inodes each described namespace was sighted as (one, but for a
  // reused inode while the old holders linger).
  private readonly inosOf = new Map<NsKey, readonly InoKey[]>()
  // Why a namespace is in the snapshot: one count for being sighted, one
  // for being listed by listns(2) alone; each such root brings its lineage,
  // counted in `refs`.
  private readonly roots = new Map<NsKey, number>()
  private readonly refs = new Map<NsKey, number>()
  private readonly metas = new Map<NsKey, NsDescription>()
  private listnsOnly = new Set<NsKey>()
  private listed = new Set<NsKey>()
  private readonly namespaces = new Map<NsKey, Namespace>()
  // Keys to look at again at the end of this pass, and keys changed since
  // the last delta was taken.
  private readonly touched = new Set<NsKey>()
  private readonly unsent = new Set<NsKey>()
  private root: NsKey | undefined
  private scannedAt = 0
  private durationMs = 0
  private snapshot: Discovery | undefined

  constructor (
    private readonly procRoot: string,
    private readonly describer: NsDescriber,
    private readonly selfPid: number = process.pid,
    // The kernel's own list, where it has listns(2).
    private readonly listns: Listns | undefined = undefined,
    taskOptions: Partial<TaskWatchOptions> = {},
  ) {
    this.tasks = new TaskWatch(procRoot, taskOptions)
    this.fds = new PerProcess(pid => readProcFds(procRoot, pid, selfPid))
    this.forChildren = new PerProcess(pid => readProcForChildren(procRoot, pid, type => this.tasks.inoOf(pid, type)))
  }

  // One pass and the snapshot it leaves; the same snapshot when nothing
  // changed.
  run (): Discovery {
    if (this.scan() || this.snapshot === undefined) {
      this.snapshot = { root: this.rootKey(), namespaces: new Map(this.namespaces), scannedAt: this.scannedAt, durationMs: this.durationMs }
    }
    return this.snapshot
  }

  // Whether process `pid` held a namespace by an open fd when its fds were
  // last read.
  holdsByFd (pid: number): boolean {
    return this.fds.has(pid)
  }

  // Whether namespaces changed since the last delta was taken.
  get pending (): boolean {
    return this.unsent.size > 0
  }

  // What changed since the last call (everything at the first; nothing
  // when nothing did).
  takeDelta (): DiscoveryDelta {
    const upserted: Namespace[] = []
    const removed: NsKey[] = []
    for (const key of this.unsent) {
      const ns = this.namespaces.get(key)
      if (ns === undefined) removed.push(key)
      else upserted.push(ns)
    }
    this.unsent.clear()
    return { root: this.rootKey(), upserted, removed, scannedAt: this.scannedAt, durationMs: this.durationMs }
  }

  private rootKey (): NsKey {
    if (this.root === undefined) throw new Error('no discovery pass has run yet')
    return this.root
  }

  // One polling pass. Answers whether the namespace map changed.
  scan (): boolean {
    return this.pass(tasks => tasks.scan(), POLL)
  }

  // The mount namespaces tasks are in, each with the task it is read
  // through.
  get mountNamespaces (): readonly MountNsTask[] {
    return this.mountTasks
  }

  // One pass: `change` brings the task watch up to date (reads processes
  // that may have changed, drops the gone); the other sources follow the
  // processes it read. Answers whether the namespace map changed.
  pass (change: (tasks: TaskWatch) => void, opts: PassOptions): boolean {
    const started = performance.now()
    const tasks = this.tasks.update(change)
    // Tasks first (their handles outlive an fd or a mount most often), then
    // namespaces for future children, open fds, and bind mounts in every
    // mount namespace a task is in.
    const isLive = (pid: number): boolean => this.tasks.has(pid)
    const perProcess = [...this.tasks.reread, ...this.tasks.rechecked]
    const inherited = opts.fdsInherited ?? new Set()
    const linksOnly = opts.linksOnly ?? new Set()
    const fdsToRead = perProcess.filter(pid => !inherited.has(pid) && !linksOnly.has(pid))
    this.fds.update(fdsToRead, isLive, inherited)
    this.forChildren.update(perProcess, isLive)
    // Made again only when a mount namespace came, went or changed holders:
    // looking through every namespace each pass would cost the host's size.
    for (const k of this.tasks.changed) {
      if (!k.startsWith('mnt:')) continue
      this.mountTasks = mountNamespaceTasks(tasks)
      break
    }
    this.readMounts(opts.mounts)
    const others = mergeFound([
      forChildrenOnly(this.forChildren.sightings(), tasks),
      foundOf(this.fds.sightings()),
      ...this.mounts.values(),
    ])
    const dirty = new Set<InoKey>([...this.tasks.changed, ...this.failed])
    const othersNow = new Map<InoKey, string>()
    for (const [k, { holders }] of others) {
      const tag = holders.map(holderTag).join(',')
      othersNow.set(k, tag)
      if (this.others.get(k) !== tag) dirty.add(k)
    }
    for (const k of this.others.keys()) if (!othersNow.has(k)) dirty.add(k)
    this.others = othersNow

    for (const inoKey of dirty) this.resight(inoKey, tasks.get(inoKey), others.get(inoKey))
    if (this.listns !== undefined && opts.listns) this.fromListns()

    const rootPath = `${this.procRoot}/${this.selfPid}/ns/user`
    const rootLink = readNsLink(rootPath)
    const rootMeta = rootLink && this.describer.describe(rootPath, 'user', rootLink.ino, false)
    if (rootMeta === undefined) throw new Error(`cannot describe the daemon's own user namespace at ${rootPath}`)
    const root = nsKey(rootMeta)

    const changed = this.settle() || root !== this.root
    this.root = root
    if (changed) {
      this.scannedAt = Date.now()
      this.durationMs = performance.now() - started
    }
    return changed
  }

  // Re-reads the mounts of the mount namespaces asked for, and of those
  // new; forgets those no task is in.
  private readMounts (which: PassOptions['mounts']): void {
    const tasks = this.mountTasks
    const ownMnt = readNsLink(`${this.procRoot}/${this.selfPid}/ns/mnt`)?.ino
    const live = new Set<number>()
    for (const task of tasks) {
      live.add(task.mntIno)
      if (which !== 'all' && !which.has(task.mntIno) && this.mounts.has(task.mntIno)) continue
      const found = readMountNamespace(this.procRoot, task, ownMnt)
      if (found !== undefined) this.mounts.set(task.mntIno, found)
    }
    for (const ino of this.mounts.keys()) if (!live.has(ino)) this.mounts.delete(ino)
  }

  // Brings one inode up to date with what the sources hold of it now.
  private resight (inoKey: InoKey, task: Sources | undefined, other: Sources | undefined): void {
    const before = this.sighted.get(inoKey)
    const entry = task ?? other
    const holders = other === undefined ? task?.holders ?? [] : task === undefined ? other.holders : task.holders.concat(other.holders)
    if (entry === undefined || holders.length === 0) {
      this.sighted.delete(inoKey)
      this.failed.delete(inoKey)
      if (before?.key !== undefined) this.unsight(inoKey, before.key)
      return
    }
    const tags = new Set(before?.holders.map(holderTag))
    const fresh = before?.key === undefined || !holders.some(h => tags.has(holderTag(h)))
    let meta: NsDescription | undefined
    for (const h of holders) {
      meta = this.describer.describe(holderPath(h, entry.type, this.procRoot), entry.type, entry.ino, fresh)
      if (meta !== undefined) break
    }
    const key = meta === undefined ? undefined : nsKey(meta)
    if (before?.key !== undefined && before.key !== key) this.unsight(inoKey, before.key)
    this.sighted.set(inoKey, { holders, key })
    if (key === undefined) {
      this.failed.add(inoKey)
      return
    }
    this.failed.delete(inoKey)
    const inos = this.inosOf.get(key)
    if (inos === undefined) {
      this.inosOf.set(key, [inoKey])
      this.addRoot(key)
    } else if (!inos.includes(inoKey)) {
      this.inosOf.set(key, [...inos, inoKey])
    }
    this.touched.add(key)
  }

  private unsight (inoKey: InoKey, key: NsKey): void {
    const inos = this.inosOf.get(key)?.filter(i => i !== inoKey)
    if (inos === undefined) return
    this.touched.add(key)
    if (inos.length > 0) {
      this.inosOf.set(key, inos)
      return
    }
    this.inosOf.delete(key)
    this.dropRoot(key)
  }

  // A namespace that is in the snapshot for its own sake, with every owner
  // and parent above it.
  private addRoot (key: NsKey): void {
    const count = this.roots.get(key) ?? 0
    this.roots.set(key, count + 1)
    if (count > 0) return
    for (const m of this.describer.lineage(key)) {
      const k = nsKey(m)
      this.metas.set(k, m)
      this.refs.set(k, (this.refs.get(k) ?? 0) + 1)
      this.touched.add(k)
    }
  }

  private dropRoot (key: NsKey): void {
    const count = this.roots.get(key)
    if (count === undefined) return
    if (count > 1) {
      this.roots.set(key, count - 1)
      return
    }
    this.roots.delete(key)
    // The describer still has it: it forgets only at the end of the pass.
    for (const k of this.describer.lineage(key).map(nsKey)) {
      const n = (this.refs.get(k) ?? 1) - 1
      if (n > 0) {
        this.refs.set(k, n)
        continue
      }
      this.refs.delete(k)
      this.metas.delete(k)
      this.touched.add(k)
    }
  }

  // Every id listns(2) gives marks its namespace; those the /proc sources
  // missed are opened by id and described (they have no holder to hand out).
  private fromListns (): void {
    const listed = new Set<NsKey>()
    const only = new Set<NsKey>()
    for (const type of NS_TYPES) {
      for (const id of this.listns?.ids(type) ?? []) {
        const key = nsKey({ type, id: id.toString(), dev: 0, ino: 0 })
        listed.add(key)
        if (this.listnsOnly.has(key)) {
          only.add(key)
          continue
        }
        if (this.metas.has(key)) continue
        const meta = this.describer.describeById(type, id)
        if (meta === undefined) continue
        only.add(nsKey(meta))
        this.addRoot(nsKey(meta))
      }
    }
    for (const key of this.listnsOnly) if (!only.has(key)) this.dropRoot(key)
    for (const key of listed) if (!this.listed.has(key)) this.touched.add(key)
    for (const key of this.listed) if (!listed.has(key)) this.touched.add(key)
    this.listnsOnly = only
    this.listed = listed
  }

  // Rewrites the namespaces touched this pass; answers whether any changed.
  private settle (): boolean {
    let changed = false
    const forget: NsKey[] = []
    for (const key of this.touched) {
      const before = this.namespaces.get(key)
      const meta = this.metas.get(key)
      if (meta === undefined) {
        forget.push(key)
        if (before === undefined) continue
        this.namespaces.delete(key)
      } else {
        const ns = this.namespaceOf(key, meta)
        if (before !== undefined && sameNamespace(before, ns)) continue
        this.namespaces.set(key, ns)
      }
      this.unsent.add(key)
      changed = true
    }
    this.touched.clear()
    this.describer.evict(forget)
    return changed
  }

  private namespaceOf (key: NsKey, meta: NsDescription): Namespace {
    const inos = this.inosOf.get(key) ?? []
    const holders = inos.length === 1 ? this.sighted.get(inos[0] as InoKey)?.holders ?? [] : inos.flatMap(i => this.sighted.get(i)?.holders ?? [])
    // Spelled out, not spread: a spread copy takes several times the memory
    // of the literal, 60,000 times over on a large host.
    const { type, id, dev, ino, owner, parent, ownerUid } = meta
    return this.listed.has(key)
      ? { type, id, dev, ino, key, owner, parent, ownerUid, holders, listed: true }
      : { type, id, dev, ino, key, owner, parent, ownerUid, holders }
  }
}

function sameNamespace (a: Namespace, b: Namespace): boolean {
  return a.type === b.type && a.id === b.id && a.dev === b.dev && a.ino === b.ino && a.owner === b.owner &&
    a.parent === b.parent && a.ownerUid === b.ownerUid && a.listed === b.listed &&
    a.holders.length === b.holders.length && a.holders.every((h, i) => holderTag(h) === holderTag(b.holders[i] as Holder))
}
