// The daemon's side of the discovery worker: start it, receive deltas
// (acknowledging each with what it cost to apply), ask for a rescan, stop it.
import { Worker } from 'node:worker_threads'
import type { DiscoveryDelta } from '../model/discovery-delta.js'
import type { ScanConfig, ScanMessage, ScanRequest } from './worker.js'

export class Scanner {
  private readonly worker: Worker

  constructor (config: ScanConfig, onDelta: (delta: DiscoveryDelta) => void, onFatal: (err: Error) => void) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: config })
    this.worker.on('message', (msg: ScanMessage) => {
      switch (msg.kind) {
        case 'delta': {
          const started = performance.now()
          onDelta(msg.delta)
          this.worker.postMessage({ kind: 'built', buildMs: performance.now() - started } satisfies ScanRequest)
          break
        }
        case 'fatal': onFatal(new Error(`discovery failed: ${msg.message}`)); break
      }
    })
    this.worker.on('error', onFatal)
  }

  // Scan at once, and from then on every `intervalMs`.
  rescan (intervalMs: number): void {
    this.worker.postMessage({ kind: 'rescan', intervalMs } satisfies ScanRequest)
  }

  async stop (): Promise<void> {
    await this.worker.terminate()
  }
}
