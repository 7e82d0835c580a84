// The daemon's end of `nsfs watch`: a unix socket in the run directory that
// any local user may connect to. Each connection is told only what its
// process may see (SO_PEERCRED names it; the daemon decides as for the
// mount), about the directory it asked for.
import fs from 'node:fs'
import net from 'node:net'
import { peerCred } from '../kernel/peer-cred.js'
import type { Logger } from '../log.js'
import type { NsEvent } from '../model/ns-events.js'
import { isUnder, type WatchAnswer, type WatchRecord, type WatchRequest } from './watch-protocol.js'

// How a caller's process sees one batch: the record it may be shown of an
// event, or undefined.
export type Lens = (pid: number) => (ev: NsEvent) => WatchRecord | undefined

// A watcher that asked for a directory `isDir` does not know is refused.
export type DirCheck = (pid: number, path: string) => boolean

interface Watcher {
  readonly socket: net.Socket
  readonly pid: number
  readonly path: string
}

const MAX_REQUEST = 4096

export class WatchServer {
  private readonly watchers = new Set<Watcher>()

  private constructor (private readonly server: net.Server, private readonly file: string) {}

  static async listen (file: string, isDir: DirCheck, log: Logger): Promise<WatchServer> {
    fs.rmSync(file, { force: true })
    const server = net.createServer()
    const ws = new WatchServer(server, file)
    server.on('connection', socket => ws.accept(socket, isDir, log))
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

  private accept (socket: net.Socket, isDir: DirCheck, log: Logger): void {
    let pid: number
    try {
      pid = peerCred(socket).pid
    } catch (err) {
      log('warn', `watch: ${err instanceof Error ? err.message : String(err)}`)
      socket.destroy()
      return
    }
    let buf = ''
    const answer = (a: WatchAnswer): void => { socket.write(`${JSON.stringify(a)}\n`) }
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl < 0) {
        if (buf.length > MAX_REQUEST) socket.destroy()
        return
      }
      socket.off('data', onData)
      let req: WatchRequest
      try {
        req = JSON.parse(buf.slice(0, nl)) as WatchRequest
        if (typeof req.path !== 'string') throw new Error('no path')
      } catch {
        answer({ ok: false, error: 'bad request' })
        socket.end()
        return
      }
      if (!isDir(pid, req.path)) {
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
