// The mount daemon's life: preflight, first scan, mount, serve snapshots as
// they come, and on SIGINT/SIGTERM unmount and stop.
import { Scanner } from '../discover/scanner.js'
import { mountFuse, type Mounted } from '../fuse/mount.js'
import { makeOps } from '../fuse/ops.js'
import { resolveHandle } from '../kernel/handles.js'
import { readBootId } from '../kernel/procfs.js'
import type { Logger } from '../log.js'
import type { Discovery } from '../model/namespace.js'
import { TreeBuilder, type Tree } from '../model/tree.js'
import { Vfs } from '../vfs/vfs.js'
import { checkFuseDevice, checkRoot, prepareMountpoint } from './preflight.js'
import { parseSeedHex, seedFromBootId } from './seed.js'

export interface DaemonOptions {
  mountpoint: string
  seedHex: string | undefined
  procRoot: string
  intervalMs: number
  cacheSeconds: string
  debugFuse: boolean
  log: Logger
}

// Resolves with the exit code once the daemon has stopped.
export async function runDaemon (opts: DaemonOptions): Promise<number> {
  const { log } = opts
  checkRoot()
  checkFuseDevice()
  const seed = opts.seedHex !== undefined ? parseSeedHex(opts.seedHex) : seedFromBootId(readBootId(opts.procRoot))
  const mountpoint = prepareMountpoint(opts.mountpoint, log)

  const builder = new TreeBuilder(seed)
  let tree: Tree | undefined
  let fatal: (err: Error) => void = () => {}
  const stopped = new Promise<Error | undefined>(resolve => {
    fatal = resolve
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => { log('info', `${sig}: unmounting ${mountpoint}`); resolve(undefined) })
    }
  })

  let firstScan: (t: Tree) => void = () => {}
  const ready = new Promise<Tree>(resolve => { firstScan = resolve })
  const onDiscovery = (d: Discovery): void => {
    try {
      const started = performance.now()
      tree = builder.build(d)
      log('debug', `scan: ${d.namespaces.size} namespaces in ${d.durationMs.toFixed(0)} ms, tree built in ${(performance.now() - started).toFixed(0)} ms`)
      firstScan(tree)
    } catch (err) {
      log('error', `cannot build the tree from a scan: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  const scanner = new Scanner({ procRoot: opts.procRoot, intervalMs: opts.intervalMs, pid: process.pid }, onDiscovery, fatal)

  let mounted: Mounted | undefined
  let code = 0
  try {
    const first = await Promise.race([ready, stopped])
    if (first === undefined) return 0
    if (first instanceof Error) throw first
    log('info', `first scan: ${first.discovery.namespaces.size} namespaces in ${first.discovery.durationMs.toFixed(0)} ms`)
    const vfs = new Vfs(() => tree ?? first, ns => resolveHandle(ns, opts.procRoot))
    mounted = await mountFuse(mountpoint, makeOps(vfs, log), { cacheSeconds: opts.cacheSeconds, debug: opts.debugFuse })
    log('info', `mounted at ${mountpoint}`)
    const err = await stopped
    if (err !== undefined) throw err
  } catch (err) {
    log('error', err instanceof Error ? err.message : String(err))
    code = 1
  } finally {
    if (mounted !== undefined) {
      try {
        await mounted.unmount()
        log('info', `unmounted ${mountpoint}`)
      } catch (err) {
        log('error', `unmount failed: ${mountpoint}: ${err instanceof Error ? err.message : String(err)}`)
        code = 1
      }
    }
    await scanner.stop()
  }
  return code
}
