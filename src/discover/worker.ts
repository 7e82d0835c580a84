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

export type ScanMessage =
  | { kind: 'discovery', discovery: import('../model/namespace.js').Discovery }
  | { kind: 'fatal', message: string }

const config = workerData as ScanConfig
const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')

const discoverer = new Discoverer(config.procRoot, new KernelDescriber(`${config.procRoot}/${config.pid}/ns/user`), config.pid, Listns.detect())

function loop (): void {
  let msg: ScanMessage
  try {
    msg = { kind: 'discovery', discovery: discoverer.run() }
  } catch (err) {
    port?.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies ScanMessage)
    return
  }
  port?.postMessage(msg)
  setTimeout(loop, config.intervalMs)
}
loop()
