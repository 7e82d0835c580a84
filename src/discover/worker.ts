// Runs discovery off the FUSE thread: scans in a loop and posts each
// snapshot to the daemon, so no FUSE answer ever waits on /proc.
import { parentPort, workerData } from 'node:worker_threads'
import { KernelDescriber } from '../kernel/describe.js'
import { Discoverer } from './discover.js'

export interface ScanConfig {
  procRoot: string
  intervalMs: number
  pid: number
}

export type ScanMessage =
  | { kind: 'discovery', discovery: import('../model/namespace.js').Discovery }
  | { kind: 'fatal', message: string }

// From the daemon: the last snapshot is in use; `buildMs` is what it cost.
export interface ScanAck { kind: 'built', buildMs: number }

const config = workerData as ScanConfig
const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')

const discoverer = new Discoverer(config.procRoot, new KernelDescriber(`${config.procRoot}/${config.pid}/ns/user`), config.pid)

let posted: import('../model/namespace.js').Discovery | undefined
// One snapshot in flight at most: on a large host the daemon may take longer
// to build a tree than we take to scan, and a queue of stale snapshots would
// only delay the fresh one and hold memory.
let inFlight = false
let notBefore = 0

port.on('message', (msg: ScanAck) => {
  inFlight = false
  // Building at most about a third of the time leaves the daemon's thread
  // to FUSE.
  notBefore = performance.now() + 2 * msg.buildMs
})

function loop (): void {
  const started = performance.now()
  let discovery
  try {
    discovery = discoverer.run()
  } catch (err) {
    port?.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies ScanMessage)
    return
  }
  // An unchanged host answers the same snapshot: nothing to send or rebuild.
  if (discovery !== posted && !inFlight && started >= notBefore) {
    port?.postMessage({ kind: 'discovery', discovery } satisfies ScanMessage)
    posted = discovery
    inFlight = true
  }
  // Scanning at most about a third of the time bounds the CPU it takes on a
  // large host, at the price of a longer interval there.
  setTimeout(loop, Math.max(config.intervalMs, 2 * (performance.now() - started)))
}
loop()
