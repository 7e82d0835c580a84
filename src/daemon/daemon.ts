// The mount daemon's life: preflight, first scan, mount, serve snapshots as
// they come. SIGINT/SIGTERM unmount and stop; SIGHUP reloads the config file
// and rescans; an unmount from outside (umount(8)) stops it too.
import path from 'node:path'
import { Scanner } from '../discover/scanner.js'
import { NsfsError } from '../errors.js'
import { FuseOps } from '../fuse/ops.js'
import { startSession, type Session } from '../fuse/session.js'
import { Handles } from '../kernel/handles.js'
import { Callers } from '../kernel/callers.js'
import { View } from '../model/access.js'
import { InoIndex } from '../model/ino-index.js'
import type { NsKey, NsType } from '../model/namespace.js'
import { readMountinfo } from '../kernel/mountinfo.js'
import { readBootId, readNsLink, readTaskStart } from '../kernel/procfs.js'
import type { Level, Logger } from '../log.js'
import { applyDelta, changedKeys, type DiscoveryDelta } from '../model/discovery-delta.js'
import { TreeBuilder } from '../model/tree.js'
import type { Tree } from '../model/tree-node.js'
import { OverlayStore } from '../store/overlay-store.js'
import { Vfs, type Access } from '../vfs/vfs.js'
import { readConfig } from './options.js'
import { NameKeeper } from './name-keeper.js'
import { checkFuseDevice, checkRoot, prepareMountpoint } from './preflight.js'
import { namingSeed } from './seed.js'
import { isAlive, readStatus, removeStale, StatusPublisher, type DaemonStatus } from './status.js'

export interface DaemonOptions {
  mountpoint: string
  seedHex: string | undefined
  // Where the table of renamed namespaces is kept.
  stateDir: string
  // Where the status and pid files go.
  runDir: string
  // Re-read on SIGHUP: its log_level and interval_ms apply at once.
  configFile: string | undefined
  procRoot: string
  intervalMs: number
  // Seconds the kernel may cache names, attributes and symlink targets;
  // changes reach it as invalidations before that.
  cacheSeconds: number
  debugFuse: boolean
  log: Logger
  logLevel: Level
  setLogLevel: (level: Level) => void
  // Called once the tree is mounted and served.
  onReady?: () => void
  // How often to check that the mount is still there, in ms.
  mountCheckMs?: number
}

type Stop =
  | { kind: 'signal', signal: string }
  | { kind: 'unmounted' }
  | { kind: 'fatal', err: Error }

// Refuses to start while another daemon serves the mountpoint; forgets the
// files of one that died.
function claim (opts: DaemonOptions, abs: string): void {
  const prev = readStatus(opts.runDir, abs)
  if (prev === undefined) return
  if (isAlive(prev, opts.procRoot)) {
    throw new NsfsError('EBUSY', `mountpoint is busy: already served by nsfs (pid ${prev.pid}); stop that one first with \`nsfs umount\``, { path: abs })
  }
  opts.log('warn', `a previous daemon (pid ${prev.pid}) ended without cleaning up at ${abs}`)
  removeStale(opts.runDir, abs)
}

// Resolves with the exit code once the daemon has stopped.
export async function runDaemon (opts: DaemonOptions): Promise<number> {
  const { log } = opts
  checkRoot()
  checkFuseDevice()
  const bootId = readBootId(opts.procRoot)
  const seed = namingSeed({ seedHex: opts.seedHex, stateDir: opts.stateDir, bootId })
  const abs = path.resolve(opts.mountpoint)
  claim(opts, abs)
  const mountpoint = prepareMountpoint(abs, log)
  const publisher = new StatusPublisher(opts.runDir, mountpoint)

  let interval = opts.intervalMs
  let logLevel = opts.logLevel
  const startedAt = Date.now()
  const pidStart = readTaskStart(opts.procRoot, process.pid, process.pid) ?? 0
  let scans = 0
  let isMounted = false
  const publish = (): void => {
    const d = tree?.discovery
    const status: DaemonStatus = {
      mountpoint,
      pid: process.pid,
      pidStart,
      startedAt,
      mounted: isMounted,
      namespaces: d?.namespaces.size ?? 0,
      lastScanAt: d?.scannedAt ?? null,
      lastScanMs: d === undefined ? null : Math.round(d.durationMs * 10) / 10,
      scans,
      tableSize: names.size,
      logLevel,
    }
    try {
      publisher.publish(status)
    } catch (err) {
      log('warn', `cannot publish status: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  const builder = new TreeBuilder(seed)
  const store = new OverlayStore(opts.stateDir, bootId, log)
  const names = new NameKeeper(store, store.load(), builder, log)
  let tree: Tree | undefined
  let stop: (s: Stop) => void = () => {}
  const stopped = new Promise<Stop>(resolve => { stop = resolve })
  // Kept until the end: Ctrl-C under `npm start` delivers SIGINT twice (from
  // the terminal, and forwarded by npm), and a second one must not kill the
  // daemon in the middle of unmounting.
  const onSigint = (): void => stop({ kind: 'signal', signal: 'SIGINT' })
  const onSigterm = (): void => stop({ kind: 'signal', signal: 'SIGTERM' })
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigterm)

  const inos = new InoIndex()
  let firstScan: (t: Tree) => void = () => {}
  const ready = new Promise<Tree>(resolve => { firstScan = resolve })
  const onDelta = (delta: DiscoveryDelta): void => {
    try {
      const started = performance.now()
      const d = applyDelta(tree?.discovery, delta)
      inos.apply(tree?.discovery, delta)
      // The first scan also forgets names of namespaces that died while
      // no daemon ran. `change` says which directories the kernel's caches
      // of the tree have to drop.
      const { tree: next, change } = names.update(d, tree === undefined ? undefined : { tree, changed: changedKeys(delta) })
      tree = next
      session?.notify(ops?.invalidations(change) ?? [])
      scans++
      const how = change.kind === 'whole' ? 'built' : `patched in ${change.dirs.length} directories`
      log('debug', `scan: ${delta.upserted.length} namespaces new or changed, ${delta.removed.length} gone, ${d.namespaces.size} in all, in ${d.durationMs.toFixed(0)} ms; tree ${how} in ${(performance.now() - started).toFixed(0)} ms`)
      firstScan(tree)
      publish()
    } catch (err) {
      log('error', `cannot build the tree from a scan: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  publish()
  const scanner = new Scanner({ procRoot: opts.procRoot, intervalMs: interval, pid: process.pid }, onDelta, err => stop({ kind: 'fatal', err }))

  const reload = (): void => {
    if (opts.configFile === undefined) {
      log('info', 'SIGHUP: no config file; rescanning')
    } else {
      try {
        const c = readConfig(opts.configFile)
        if (c.logLevel !== undefined) { logLevel = c.logLevel; opts.setLogLevel(c.logLevel) }
        if (c.intervalMs !== undefined) interval = c.intervalMs
        const later = (['seed', 'stateDir', 'runDir'] as const).filter(k => c[k] !== undefined)
        if (later.length > 0) log('warn', `SIGHUP: ${later.join(', ')} in ${opts.configFile} take effect only on restart`)
        log('info', `SIGHUP: reloaded ${opts.configFile} (log_level ${logLevel}, interval_ms ${interval}); rescanning`)
      } catch (err) {
        log('error', `SIGHUP: kept the old configuration: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
    scanner.rescan(interval)
  }
  process.on('SIGHUP', reload)

  let session: Session | undefined
  let ops: FuseOps | undefined
  let watch: NodeJS.Timeout | undefined
  let code = 0
  try {
    const first = await Promise.race([ready, stopped])
    if (!('discovery' in first)) {
      if (first.kind === 'fatal') throw first.err
      return 0
    }
    log('info', `first scan: ${first.discovery.namespaces.size} namespaces in ${first.discovery.durationMs.toFixed(0)} ms`)
    const current = (): Tree => tree ?? first
    const keyOf = (type: NsType, ino: number): NsKey | undefined => inos.keyOf(type, ino)
    const own = (type: NsType): NsKey | undefined => {
      const link = readNsLink(`${opts.procRoot}/${process.pid}/ns/${type}`)
      return link === undefined ? undefined : keyOf(type, link.ino)
    }
    const handles = new Handles(() => current().discovery, keyOf, { pid: own('pid'), mnt: own('mnt') }, opts.procRoot)
    const callers = new Callers(keyOf, opts.procRoot)
    const access: Access = {
      view: who => new View(current().discovery, callers.of(who.pid)),
      plain: view => handles.plain(view),
      holders: (ns, view) => handles.holders(ns, view),
      target: (ns, view) => handles.target(ns, view),
      alive: ns => handles.alive(ns),
    }
    const vfs = new Vfs(current, access, plan => { tree = names.rename(current(), plan) })
    ops = new FuseOps(vfs, log)
    session = await startSession(ops, { mountpoint, debug: opts.debugFuse, log })
    void session.ended.then(() => stop({ kind: 'unmounted' }))
    isMounted = true
    // The kernel ends the connection when the mount goes; a lazy unmount
    // (umount -l) while something still uses it does not, so the mount
    // table is watched too.
    const { mountId } = session.mount
    watch = setInterval(() => {
      if (!readMountinfo().some(m => m.mountId === mountId)) stop({ kind: 'unmounted' })
    }, opts.mountCheckMs ?? 1000)
    publisher.writePid(process.pid)
    publish()
    log('info', `mounted at ${mountpoint}`)
    opts.onReady?.()
    const why = await stopped
    switch (why.kind) {
      case 'signal':
        log('info', `${why.signal}: unmounting ${mountpoint}`)
        break
      case 'unmounted':
        log('info', `${mountpoint} was unmounted; stopping`)
        isMounted = false
        if (session !== undefined) await session.unmount().catch(() => {})
        session = undefined
        break
      case 'fatal':
        throw why.err
    }
  } catch (err) {
    log('error', err instanceof Error ? err.message : String(err))
    code = 1
  } finally {
    if (watch !== undefined) clearInterval(watch)
    process.off('SIGHUP', reload)
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigterm)
    if (session !== undefined) {
      try {
        await session.unmount()
        log('info', `unmounted ${mountpoint}`)
      } catch (err) {
        log('error', `unmount failed: ${mountpoint}: ${err instanceof Error ? err.message : String(err)}`)
        code = 1
      }
    }
    await scanner.stop()
    publisher.remove()
  }
  return code
}
