// Runs discovery off the FUSE thread: scans in a loop and posts each
// changed snapshot to the daemon, so no FUSE answer ever waits on /proc.
import { parentPort, workerData } from 'node:worker_threads'
import { KernelDescriber } from '../kernel/describe.js'
import { Listns } from '../kernel/listns.js'
import type { Discovery } from '../model/namespace.js'
import { Discoverer } from './discover.js'

export interface ScanConfig {
  procRoot: string
  intervalMs: number
  pid: number
}

// From the daemon: scan now (SIGHUP), optionally at a new interval; or the
// last snapshot is in use and `buildMs` is what building its tree cost.
export type ScanRequest =
  | { kind: 'rescan', intervalMs: number }
  | { kind: 'built', buildMs: number }

export type ScanMessage =
  | { kind: 'discovery', discovery: Discovery }
  | { kind: 'fatal', message: string }

const config = workerData as ScanConfig
const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')

const discoverer = new Discoverer(config.procRoot, new KernelDescriber(`${config.procRoot}/${config.pid}/ns/user`), config.pid, Listns.detect())

let interval = config.intervalMs
let timer: NodeJS.Timeout | undefined
let posted: Discovery | undefined
// One snapshot in flight at most: on a large host the daemon may take longer
// to build a tree than we take to scan, and a queue of stale snapshots would
// only delay the fresh one and hold memory.
let inFlight = false
let notBefore = 0
// A rescan asked for (SIGHUP) is served even when nothing changed.
let forced = false

function loop (): void {
  timer = undefined
  const started = performance.now()
  let discovery: Discovery
  try {
    discovery = discoverer.run()
  } catch (err) {
    port?.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies ScanMessage)
    return
  }
  // An unchanged host answers the same snapshot: nothing to send or rebuild,
  // unless a rescan was asked for.
  if ((discovery !== posted || forced) && !inFlight && started >= notBefore) {
    port?.postMessage({ kind: 'discovery', discovery } satisfies ScanMessage)
    posted = discovery
    inFlight = true
    forced = false
  }
  // Scanning at most about a third of the time bounds the CPU it takes on a
  // large host, at the price of a longer interval there.
  timer = setTimeout(loop, Math.max(interval, 2 * (performance.now() - started)))
}

port.on('message', (req: ScanRequest) => {
  switch (req.kind) {
    case 'rescan':
      interval = req.intervalMs
      forced = true
      // Scans are synchronous: between two of them a timer is pending.
      if (timer !== undefined) clearTimeout(timer)
      loop()
      break
    case 'built':
      inFlight = false
      // Building at most about a third of the time leaves the daemon's
      // thread to FUSE.
      notBefore = performance.now() + 2 * req.buildMs
      break
  }
})
loop()
