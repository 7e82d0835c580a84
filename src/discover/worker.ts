// Runs discovery off the FUSE thread: scans in a loop and posts each
// snapshot to the daemon, so no FUSE answer ever waits on /proc.
import { parentPort, workerData } from 'node:worker_threads'
import { KernelDescriber } from '../kernel/describe.js'
import { Listns } from '../kernel/listns.js'
import { Discoverer } from './discover.js'

export interface ScanConfig {
  procRoot: string
  intervalMs: number
  pid: number
}

// From the daemon: scan now (SIGHUP), optionally at a new interval.
export interface RescanRequest { kind: 'rescan', intervalMs: number }

export type ScanMessage =
  | { kind: 'discovery', discovery: import('../model/namespace.js').Discovery }
  | { kind: 'fatal', message: string }

const config = workerData as ScanConfig
const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')

const discoverer = new Discoverer(config.procRoot, new KernelDescriber(`${config.procRoot}/${config.pid}/ns/user`), config.pid, Listns.detect())

let interval = config.intervalMs
let timer: NodeJS.Timeout | undefined

function loop (): void {
  timer = undefined
  let msg: ScanMessage
  try {
    msg = { kind: 'discovery', discovery: discoverer.run() }
  } catch (err) {
    port?.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies ScanMessage)
    return
  }
  port?.postMessage(msg)
  timer = setTimeout(loop, interval)
}

port.on('message', (req: RescanRequest) => {
  interval = req.intervalMs
  // Scans are synchronous: between two of them a timer is pending.
  if (timer !== undefined) clearTimeout(timer)
  loop()
})
loop()
