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

const config = workerData as ScanConfig
const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')

const discoverer = new Discoverer(config.procRoot, new KernelDescriber(`${config.procRoot}/${config.pid}/ns/user`), config.pid)

let posted: import('../model/namespace.js').Discovery | undefined

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
  if (discovery !== posted) port?.postMessage({ kind: 'discovery', discovery } satisfies ScanMessage)
  posted = discovery
  // Scanning at most about a third of the time bounds the CPU it takes on a
  // large host, at the price of a longer interval there.
  setTimeout(loop, Math.max(config.intervalMs, 2 * (performance.now() - started)))
}
loop()
