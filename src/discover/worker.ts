// Runs discovery off the FUSE thread: scans in a loop and posts what changed
// (a delta, everything at the first) to the daemon, so no FUSE answer ever
// waits on /proc and what crosses threads follows the change, not the host.
import { parentPort, workerData } from 'node:worker_threads'
import { KernelDescriber } from '../kernel/describe.js'
import { Listns } from '../kernel/listns.js'
import type { DiscoveryDelta } from '../model/discovery-delta.js'
import { Discoverer } from './discover.js'

export interface ScanConfig {
  procRoot: string
  intervalMs: number
  pid: number
}

// From the daemon: scan now (SIGHUP), optionally at a new interval; or the
// last delta is applied and `buildMs` is what applying it cost.
export type ScanRequest =
  | { kind: 'rescan', intervalMs: number }
  | { kind: 'built', buildMs: number }

export type ScanMessage =
  | { kind: 'delta', delta: DiscoveryDelta }
  | { kind: 'fatal', message: string }

const config = workerData as ScanConfig
const port = parentPort
if (port === null) throw new Error('worker.ts runs only as a worker thread')

const discoverer = new Discoverer(config.procRoot, new KernelDescriber(`${config.procRoot}/${config.pid}/ns/user`), config.pid, Listns.detect())

let interval = config.intervalMs
let timer: NodeJS.Timeout | undefined
// One delta in flight at most: changes meanwhile are gathered into the next
// one, so a daemon slower than the scans gets fewer, larger deltas.
let inFlight = false
let notBefore = 0
// A rescan asked for (SIGHUP) is served even when nothing changed.
let forced = false

function post (): void {
  if (inFlight) return
  port?.postMessage({ kind: 'delta', delta: discoverer.takeDelta() } satisfies ScanMessage)
  inFlight = true
  forced = false
}

// The first scan reads every task: its cost says nothing of the next ones.
let first = true

function loop (): void {
  timer = undefined
  const started = performance.now()
  let scanMs: number
  try {
    discoverer.scan()
    scanMs = first ? 0 : performance.now() - started
    first = false
  } catch (err) {
    port?.postMessage({ kind: 'fatal', message: err instanceof Error ? err.message : String(err) } satisfies ScanMessage)
    return
  }
  // An unchanged host: nothing to send or apply, unless a rescan was asked for.
  if ((discoverer.pending || forced) && started >= notBefore) post()
  // Scanning at most 40 % of the time bounds the CPU it takes on a large
  // host, at the price of a longer interval there (the daemon's thread,
  // patching trees, takes a few % more).
  timer = setTimeout(loop, Math.max(interval, 1.5 * scanMs))
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
      // What piled up meanwhile goes as soon as that allows, not a scan later.
      if (discoverer.pending) setTimeout(() => { if (discoverer.pending) post() }, 2 * req.buildMs)
      break
  }
})
loop()
