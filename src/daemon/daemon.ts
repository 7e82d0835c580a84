// The mount daemon's life: preflight, first scan, mount, serve the tree as
// discovery changes it. SIGINT/SIGTERM unmount and stop; SIGHUP reloads the
// config file and rescans; an unmount from outside (umount(8)) stops it too.
// A signal only settles a promise: the work happens on the loop, between
// requests.
import { ContainerFinder } from '../containers/container-finder.js'
import { Engine } from '../discover/engine.js'
import { kernelDiscoverer } from '../discover/pipeline.js'
import { NsfsError } from '../errors.js'
import { FuseOps } from '../fuse/ops.js'
import { startSession, type Session } from '../fuse/session.js'
import { Callers } from '../kernel/callers.js'
import { Handles } from '../kernel/handles.js'
import { readMountinfo } from '../kernel/mountinfo.js'
import { readBootId, readNsLink, readTaskStart } from '../kernel/procfs.js'
import type { Level, Logger } from '../log.js'
import { View } from '../model/access.js'
import { NO_CONTAINERS, type ContainerSet } from '../model/containers.js'
import { applyDelta, changedKeys, type DiscoveryDelta } from '../model/discovery-delta.js'
import { InoIndex } from '../model/ino-index.js'
import { holderPath, nsKey, type Discovery, type NsKey, type NsType } from '../model/namespace.js'
import { nsEvents } from '../model/ns-events.js'
import { planImport, type ImportRequest } from '../model/import-plan.js'
import type { RenamePlan } from '../model/overlay.js'
import { subtreeDelta } from '../model/subtree.js'
import { TreeBuilder } from '../model/tree.js'
import type { Tree } from '../model/tree-node.js'
import fs from 'node:fs'
import { OverlayStore } from '../store/overlay-store.js'
import { Vfs, type Access } from '../vfs/vfs.js'
import { NameKeeper } from './name-keeper.js'
import { Pacer } from '../pacer.js'
import { readConfig } from './options.js'
import { checkFuseDevice, checkRoot, prepareMountpoint } from './preflight.js'
import { namingSeed } from './seed.js'
import type { Settings } from './settings.js'
import { isAlive, readStatus, removeStale, runFiles, StatusPublisher, type DaemonStatus } from './status.js'
import type { ImportAnswer } from './watch-protocol.js'
import { WatchServer, type Lens } from './watch-server.js'

// What the daemon is given besides its settings.
export interface DaemonIo {
  readonly log: Logger
  // The log level now (SIGHUP may change it).
  readonly setLogLevel: (level: Level) => void
  // Called once the tree is mounted and served.
  readonly onReady?: () => void
}

const CONTAINERS_GAP_MS = 25
const STATUS_GAP_MS = 1000

type Stop =
  | { kind: 'signal', signal: string }
  | { kind: 'unmounted' }
  | { kind: 'fatal', err: Error }

export class Daemon {
  private tree: Tree | undefined
  private session: Session | undefined
  private ops: FuseOps | undefined
  private readonly inos = new InoIndex()
  private readonly publisher: StatusPublisher
  private readonly startedAt = Date.now()
  private readonly pidStart: number
  private scans = 0
  private mounted = false
  private interval: number
  private logLevel: Level
  private stop: (s: Stop) => void = () => {}
  private readonly stopped = new Promise<Stop>(resolve => { this.stop = resolve })
  private engine: Engine | undefined
  private names: NameKeeper | undefined
  private readonly callers: Callers
  private handles: Handles | undefined
  private watchers: WatchServer | undefined
  // The whole host's discovery; the tree may show a subtree of it.
  private whole: Discovery | undefined
  // --userns: the user namespace at the root, by its inode until the first
  // pass names its key.
  private rootIno: { dev: number, ino: number } | undefined
  private rootKey: NsKey | undefined
  private readonly log: Logger
  private readonly finder: ContainerFinder
  // The namespaces changed since the containers were last searched.
  private finderChanged: Set<NsKey> | 'all' = 'all'
  private containers: ContainerSet = NO_CONTAINERS
  // The containers after discovery passes, and while young processes may
  // yet turn out to be a container's init: at most a twentieth of the time.
  private readonly containerPacer = new Pacer(() => this.findContainers(), lastMs => Math.max(CONTAINERS_GAP_MS, 19 * lastMs))
  // The status file after discovery passes: for `nsfs status`, once a second.
  private readonly statusPacer = new Pacer(() => this.publish(), () => STATUS_GAP_MS)
  private lastView: { readonly d: Discovery, readonly view: View } | undefined
  // --userns: the whole discovery last rooted at rootKey, and the result.
  private rooted: { readonly whole: Discovery, readonly seen: Discovery } | undefined

  private constructor (private readonly s: Settings, private readonly io: DaemonIo, private readonly mountpoint: string) {
    this.log = io.log
    this.interval = s.intervalMs
    this.logLevel = s.logLevel
    this.publisher = new StatusPublisher(s.runDir, mountpoint)
    this.pidStart = readTaskStart(s.procRoot, process.pid, process.pid) ?? 0
    const keyOf = (type: NsType, ino: number): NsKey | undefined => this.inos.keyOf(type, ino)
    this.callers = new Callers(keyOf, s.procRoot)
    this.finder = new ContainerFinder(s.procRoot)
  }

  // Made once the first pass has named the daemon's own namespaces.
  private makeHandles (): Handles {
    const keyOf = (type: NsType, ino: number): NsKey | undefined => this.inos.keyOf(type, ino)
    const own = (type: NsType): NsKey | undefined => {
      const link = readNsLink(`${this.s.procRoot}/${process.pid}/ns/${type}`)
      return link === undefined ? undefined : keyOf(type, link.ino)
    }
    return new Handles(() => this.seen(this.whole), keyOf, { pid: own('pid'), mnt: own('mnt') }, this.s.procRoot)
  }

  // Resolves with the exit status once the daemon has stopped.
  static async run (s: Settings, io: DaemonIo): Promise<number> {
    checkRoot()
    checkFuseDevice()
    claim(s, io.log)
    const daemon = new Daemon(s, io, prepareMountpoint(s.mountpoint, io.log))
    return await daemon.serve()
  }

  private async serve (): Promise<number> {
    const { s, log } = this
    // Kept until the end: Ctrl-C under `npm start` delivers SIGINT twice
    // (from the terminal, and forwarded by npm), and a second one must not
    // kill the daemon in the middle of unmounting.
    const onSigint = (): void => this.stop({ kind: 'signal', signal: 'SIGINT' })
    const onSigterm = (): void => this.stop({ kind: 'signal', signal: 'SIGTERM' })
    const onSighup = (): void => this.reload()
    process.on('SIGINT', onSigint)
    process.on('SIGTERM', onSigterm)
    process.on('SIGHUP', onSighup)
    let watch: NodeJS.Timeout | undefined
    let code = 0
    try {
      const bootId = readBootId(s.procRoot)
      const builder = new TreeBuilder(namingSeed({ seedHex: s.seedHex, stateDir: s.stateDir, bootId }))
      const store = new OverlayStore(s.stateDir, bootId, log)
      this.names = new NameKeeper(store, store.load(), builder, log)
      this.publish()
      if (s.userns !== undefined) {
        try {
          const st = fs.statSync(s.userns)
          this.rootIno = { dev: st.dev, ino: st.ino }
        } catch (err) {
          throw new NsfsError('ENOENT', `cannot open the user namespace for --userns (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { path: s.userns, cause: err })
        }
      }
      const discoverer = kernelDiscoverer({ procRoot: s.procRoot, pid: process.pid })
      this.engine = new Engine(discoverer, {
        events: s.events,
        intervalMs: s.intervalMs,
        sweepSeconds: s.sweepSeconds,
        eventBufferBytes: s.eventBufferBytes,
        log,
        onDelta: delta => this.onDelta(delta),
        onTaskChanged: (pid, why) => {
          this.callers.invalidate(pid)
          if (why === 'exec' && this.finder.execd(pid)) this.containerPacer.ask()
        },
        onFatal: err => this.stop({ kind: 'fatal', err: new Error(`discovery failed: ${err.message}`) }),
      })
      const started = performance.now()
      this.engine.start()
      const first = this.tree
      if (this.rootIno !== undefined && this.rootKey === undefined) {
        throw new NsfsError('EINVAL', '--userns wants a user namespace (/proc/PID/ns/user or a tree\'s user entry); this is none', { path: s.userns })
      }
      if (first === undefined) throw new NsfsError('EIO', 'the first discovery pass found nothing, not even our own user namespace')
      log('info', `first scan: ${first.discovery.namespaces.size} namespaces in ${(performance.now() - started).toFixed(0)} ms`)
      const handles = this.makeHandles()
      this.handles = handles
      const vfs = new Vfs(() => this.current, this.access(handles), plan => this.renamed(plan), () => this.containers)
      this.ops = new FuseOps(vfs, log)
      this.session = await startSession(this.ops, { mountpoint: this.mountpoint, debug: s.debugFuse, log })
      void this.session.ended.then(() => this.stop({ kind: 'unmounted' }))
      this.mounted = true
      // The kernel ends the connection when the mount goes; a lazy unmount
      // (umount -l) while something still uses it does not, so the mount
      // table is watched too.
      const { mountId } = this.session.mount
      watch = setInterval(() => {
        if (!readMountinfo().some(m => m.mountId === mountId)) this.stop({ kind: 'unmounted' })
      }, s.mountCheckMs)
      this.watchers = await WatchServer.listen(runFiles(s.runDir, this.mountpoint).events, {
        isDir: (pid, path) => {
          try {
            return vfs.resolve(path, vfs.view({ uid: 0, gid: 0, pid })).kind === 'dir'
          } catch {
            return false
          }
        },
        importNames: (pid, req) => this.imported(pid, req),
      }, log)
      this.publisher.writePid(process.pid)
      this.publish()
      log('info', `mounted at ${this.mountpoint}`)
      this.io.onReady?.()
      const why = await this.stopped
      switch (why.kind) {
        case 'signal':
          log('info', `${why.signal}: unmounting ${this.mountpoint}`)
          break
        case 'unmounted':
          log('info', `${this.mountpoint} was unmounted; stopping`)
          this.mounted = false
          await this.session.unmount().catch(() => {})
          this.session = undefined
          break
        case 'fatal':
          throw why.err
      }
    } catch (err) {
      log('error', err instanceof Error ? err.message : String(err))
      code = 1
    } finally {
      if (watch !== undefined) clearInterval(watch)
      this.containerPacer.stop()
      this.statusPacer.stop()
      this.watchers?.close()
      process.off('SIGHUP', onSighup)
      process.off('SIGINT', onSigint)
      process.off('SIGTERM', onSigterm)
      this.engine?.stop()
      if (this.session !== undefined) {
        try {
          await this.session.unmount()
          log('info', `unmounted ${this.mountpoint}`)
        } catch (err) {
          log('error', `unmount failed: ${this.mountpoint}: ${err instanceof Error ? err.message : String(err)}`)
          code = 1
        }
      }
      this.publisher.remove()
    }
    return code
  }

  private get current (): Tree {
    if (this.tree === undefined) throw new Error('no tree before the first scan')
    return this.tree
  }

  // The kernel's side of each request, wired to the current tree.
  private access (handles: Handles): Access {
    return {
      view: who => this.viewOf(who.pid),
      plain: view => handles.plain(view),
      holders: (ns, view) => handles.holders(ns, view),
      target: (ns, view) => handles.target(ns, view),
      checkAhead: (ns, view) => handles.checkAhead(ns, view),
      alive: ns => handles.alive(ns),
    }
  }

  private onDelta (delta: DiscoveryDelta): void {
    const names = this.names
    if (names === undefined) return
    try {
      const started = performance.now()
      const before = this.tree
      const wholeBefore = this.whole
      const whole = applyDelta(wholeBefore, delta)
      this.inos.apply(wholeBefore, delta)
      this.whole = whole
      if (this.rootIno !== undefined && this.rootKey === undefined) {
        const key = this.inos.keyOf('user', this.rootIno.ino)
        if (key === undefined || whole.namespaces.get(key)?.dev !== this.rootIno.dev) return
        this.rootKey = key
      }
      if (this.rootKey !== undefined && !whole.namespaces.has(this.rootKey)) {
        this.stop({ kind: 'fatal', err: new Error(`the user namespace at the root (${this.s.userns ?? ''}) is gone`) })
        return
      }
      const d = applyDelta(before?.discovery, this.rootKey === undefined ? delta : subtreeDelta(delta, this.rootKey, whole))
      // The first scan also forgets names of namespaces that died while
      // no daemon ran. `change` says which directories the kernel's caches
      // of the tree have to drop.
      const changed = changedKeys(delta)
      const { tree, change } = names.update(d, before === undefined ? undefined : { tree: before, changed })
      this.tree = tree
      if (this.finderChanged !== 'all') for (const key of changed) this.finderChanged.add(key)
      this.containerPacer.ask()
      if (this.ops !== undefined) this.session?.notify(this.ops.invalidations(change))
      if (before !== undefined && this.watchers !== undefined && this.watchers.size > 0) {
        this.watchers.publish(nsEvents(before, tree, changed), this.lens(this.seen(wholeBefore), this.seen(whole)))
      }
      this.scans++
      const how = change.kind === 'whole' ? 'built' : `patched in ${change.dirs.length} directories`
      this.log('debug', `discovery: ${delta.upserted.length} namespaces new or changed, ${delta.removed.length} gone, ${d.namespaces.size} in all, in ${d.durationMs.toFixed(1)} ms; tree ${how} in ${(performance.now() - started).toFixed(1)} ms`)
      this.statusPacer.ask()
    } catch (err) {
      this.log('error', `cannot build the tree from a discovery pass: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  // The running containers of the host.
  private findContainers (): void {
    const whole = this.whole
    if (whole === undefined) return
    const changed = this.finderChanged
    this.finderChanged = new Set()
    try {
      const { containers, retryInMs } = this.finder.find(whole, (type, ino) => this.inos.keyOf(type, ino), changed)
      this.containers = containers
      if (retryInMs !== undefined) this.containerPacer.askIn(retryInMs)
    } catch (err) {
      // What it had not taken in is looked at again, all of it.
      this.finderChanged = 'all'
      this.log('warn', `cannot find the containers: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  private renamed (plan: RenamePlan): void {
    const names = this.names
    if (names === undefined || plan.kind === 'none') return
    const before = this.current
    this.tree = names.rename(before, plan)
    if (this.watchers !== undefined && this.watchers.size > 0) {
      const seen = this.seen(this.whole)
      this.watchers.publish(nsEvents(before, this.tree, [nsKey(plan.ns)]), this.lens(seen, seen))
    }
  }

  // `nsfs names import` from process `pid`: all the names or none, durable
  // before the answer, as a rename.
  private imported (pid: number, req: ImportRequest): ImportAnswer {
    const names = this.names
    if (names === undefined || this.ops === undefined) return { ok: false, error: 'the daemon is not serving yet', code: 'EBUSY' }
    const before = this.current
    const view = new View(this.seen(this.whole), this.callers.of(pid))
    let paths: readonly string[]
    try {
      const plan = planImport(before, names.overlay, req, key => view.isAdmin(key))
      this.tree = names.import(before, plan.overlay)
      paths = plan.paths
    } catch (err) {
      const e = err instanceof NsfsError ? err : new NsfsError('EIO', err instanceof Error ? err.message : String(err))
      return { ok: false, error: e.message, code: e.code }
    }
    this.session?.notify(this.ops.invalidations({ kind: 'whole' }))
    this.log('info', `imported ${paths.length} names at ${paths[0] ?? '?'} for pid ${pid}`)
    if (this.watchers !== undefined && this.watchers.size > 0) {
      const seen = this.seen(this.whole)
      this.watchers.publish(nsEvents(before, this.tree, [req.top.key, ...req.entries.map(e => e.key)]), this.lens(seen, seen))
    }
    return { ok: true, paths }
  }

  // How each watcher's process sees the events between two trees: as it
  // would see the mount (a death as it saw the namespace before).
  private lens (before: Discovery, after: Discovery): Lens {
    return pid => {
      const caller = this.callers.of(pid)
      const now = new View(after, caller)
      const then = new View(before, caller)
      const time = Date.now()
      return ev => {
        const view = ev.kind === 'died' ? then : now
        if (!view.canSee(ev.key, ev.ns)) return undefined
        const holders = ev.kind === 'died' || this.handles === undefined ? [] : this.handles.holders(ev.ns, view).map(h => holderPath(h, ev.ns.type))
        const r = { event: ev.kind, time, type: ev.ns.type, key: ev.key, path: ev.path, holders }
        return ev.kind === 'renamed' ? { ...r, from: ev.from } : r
      }
    }
  }

  // The view of the caller `pid`: the last one again while neither the
  // discovery nor what is known of the caller changed, so a stream of
  // requests decides each user namespace once, not once per request.
  private viewOf (pid: number): View {
    const d = this.seen(this.whole)
    const caller = this.callers.of(pid)
    const last = this.lastView
    if (last !== undefined && last.d === d && last.view.caller === caller) return last.view
    const view = new View(d, caller)
    this.lastView = { d, view }
    return view
  }

  // What the access rules decide on: the whole host (capabilities run
  // through every user namespace), rooted where the mount is.
  private seen (whole: Discovery | undefined): Discovery {
    const d = whole ?? this.current.discovery
    if (this.rootKey === undefined) return d
    if (this.rooted?.whole !== d) this.rooted = { whole: d, seen: { ...d, root: this.rootKey } }
    return this.rooted.seen
  }

  private reload (): void {
    const file = this.s.configFile
    if (file === undefined) {
      this.log('info', 'SIGHUP: no config file; rescanning')
    } else {
      try {
        const c = readConfig(file)
        if (c.logLevel !== undefined) { this.logLevel = c.logLevel; this.io.setLogLevel(c.logLevel) }
        if (c.intervalMs !== undefined) this.interval = c.intervalMs
        const later = (['seed', 'stateDir', 'runDir', 'userns', 'events', 'sweepSeconds'] as const).filter(k => c[k] !== undefined)
        if (later.length > 0) this.log('warn', `SIGHUP: ${later.join(', ')} in ${file} take effect only on restart`)
        this.log('info', `SIGHUP: reloaded ${file} (log_level ${this.logLevel}, interval_ms ${this.interval}); rescanning`)
      } catch (err) {
        this.log('error', `SIGHUP: kept the old configuration: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
    this.publish()
    this.engine?.rescan(this.interval)
  }

  private publish (): void {
    const d = this.tree?.discovery
    const status: DaemonStatus = {
      mountpoint: this.mountpoint,
      pid: process.pid,
      pidStart: this.pidStart,
      startedAt: this.startedAt,
      mounted: this.mounted,
      namespaces: d?.namespaces.size ?? 0,
      lastScanAt: d?.scannedAt ?? null,
      lastScanMs: d === undefined ? null : Math.round(d.durationMs * 10) / 10,
      scans: this.scans,
      tableSize: this.names?.size ?? 0,
      logLevel: this.logLevel,
      discovery: this.engine?.current ?? null,
    }
    try {
      this.publisher.publish(status)
    } catch (err) {
      this.log('warn', `cannot publish status: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
}

// Refuses to start while another daemon serves the mountpoint; forgets the
// files of one that died.
function claim (s: Settings, log: Logger): void {
  const prev = readStatus(s.runDir, s.mountpoint)
  if (prev === undefined) return
  if (isAlive(prev, s.procRoot)) {
    throw new NsfsError('EBUSY', `mountpoint is busy: already served by nsfs (pid ${prev.pid}); stop that one first with \`nsfs umount\``, { path: s.mountpoint })
  }
  log('warn', `a previous daemon (pid ${prev.pid}) ended without cleaning up at ${s.mountpoint}`)
  removeStale(s.runDir, s.mountpoint)
}
