// The daemon's end of `nsfs watch` and `nsfs names import`: a unix socket
// in the run directory that any local user may connect to. Each connection
// is told only what its process may see, and may name only where it could
// rename (SO_PEERCRED names it; the daemon decides as for the mount).
import fs from 'node:fs'
import net from 'node:net'
import { peerCred } from '../kernel/peer-cred.js'
import type { Logger } from '../log.js'
import type { NsEvent } from '../model/ns-events.js'
import type { ImportRequest } from '../model/import-plan.js'
import { isUnder, type ImportAnswer, type SocketRequest, type WatchAnswer, type WatchRecord } from './watch-protocol.js'

// How a caller's process sees one batch: the record it may be shown of an
// event, or undefined.
export type Lens = (pid: number) => (ev: NsEvent) => WatchRecord | undefined

// A watcher that asked for a directory `isDir` does not know is refused.
export type DirCheck = (pid: number, path: string) => boolean

// Applies an import for the process `pid`.
export type Importer = (pid: number, req: ImportRequest) => ImportAnswer

export interface SocketHandlers {
  readonly isDir: DirCheck
  readonly importNames: Importer
}

interface Watcher {
  readonly socket: net.Socket
  readonly pid: number
  readonly path: string
}

// An import names every namespace of a container.
const MAX_REQUEST = 4 << 20

export class WatchServer {
  private readonly watchers = new Set<Watcher>()

  private constructor (private readonly server: net.Server, private readonly file: string) {}

  static async listen (file: string, handlers: SocketHandlers, log: Logger): Promise<WatchServer> {
    fs.rmSync(file, { force: true })
    const server = net.createServer()
    const ws = new WatchServer(server, file)
    server.on('connection', socket => ws.accept(socket, handlers, log))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(file, () => { server.off('error', reject); resolve() })
    })
    server.on('error', err => log('warn', `watch socket ${file}: ${err.message}`))
    fs.chmodSync(file, 0o666)
    server.unref()
    return ws
  }

  get size (): number {
    return this.watchers.size
  }

  publish (events: readonly NsEvent[], lens: Lens): void {
    if (events.length === 0) return
    for (const w of this.watchers) {
      const see = lens(w.pid)
      let out = ''
      for (const ev of events) {
        const r = see(ev)
        if (r !== undefined && (isUnder(r.path, w.path) || (r.from !== undefined && isUnder(r.from, w.path)))) out += `${JSON.stringify(r)}\n`
      }
      if (out !== '') w.socket.write(out)
    }
  }

  close (): void {
    for (const w of this.watchers) w.socket.destroy()
    this.watchers.clear()
    this.server.close()
    fs.rmSync(this.file, { force: true })
  }

  private accept (socket: net.Socket, handlers: SocketHandlers, log: Logger): void {
    let pid: number
    try {
      pid = peerCred(socket).pid
    } catch (err) {
      log('warn', `watch: ${err instanceof Error ? err.message : String(err)}`)
      socket.destroy()
      return
    }
    let buf = ''
    const answer = (a: WatchAnswer | ImportAnswer): void => { socket.write(`${JSON.stringify(a)}\n`) }
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl < 0) {
        if (buf.length > MAX_REQUEST) socket.destroy()
        return
      }
      socket.off('data', onData)
      let req: SocketRequest
      try {
        req = JSON.parse(buf.slice(0, nl)) as SocketRequest
        if (req.kind === 'watch' ? typeof req.path !== 'string' : req.kind !== 'import' || !isImportRequest(req.request)) throw new Error('bad request')
      } catch {
        answer({ ok: false, error: 'bad request' })
        socket.end()
        return
      }
      if (req.kind === 'import') {
        answer(handlers.importNames(pid, req.request))
        socket.end()
        return
      }
      if (!handlers.isDir(pid, req.path)) {
        answer({ ok: false, error: `${req.path}: no such directory in the tree` })
        socket.end()
        return
      }
      const w: Watcher = { socket, pid, path: req.path }
      this.watchers.add(w)
      answer({ ok: true })
      log('debug', `watch: pid ${pid} watches ${req.path}`)
      // Nothing more is read from a watcher; its leaving ends it.
      socket.resume()
    }
    socket.on('data', onData)
    socket.on('error', () => socket.destroy())
    socket.on('close', () => { for (const w of this.watchers) if (w.socket === socket) this.watchers.delete(w) })
  }
}

function isImportRequest (r: unknown): r is ImportRequest {
  if (typeof r !== 'object' || r === null) return false
  const { top, entries } = r as Record<string, unknown>
  const isKeyed = (v: unknown, field: string): boolean =>
    typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>).key === 'string' && typeof (v as Record<string, unknown>)[field] === 'string'
  return isKeyed(top, 'name') && Array.isArray(entries) && entries.every(e => isKeyed(e, 'path'))
}
