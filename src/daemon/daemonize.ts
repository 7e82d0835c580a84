// `nsfs mount --daemon`: start the daemon as a detached child serving in the
// foreground, and return once it says the mount is ready — or with the
// error lines it said instead. The child talks back over a pipe on fd 3.
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import type { Readable } from 'node:stream'

export const READY_FD = 3

export type Started =
  | { kind: 'ready', pid: number }
  | { kind: 'failed', code: number, message: string }

// Where the daemon's stderr goes: the journal when ours is the journal
// (systemd sets JOURNAL_STREAM to its dev:ino), else the log file, so it never
// writes into a terminal or pipe that it outlives.
export function logTarget (logFile: string): 'inherit' | number {
  const journal = process.env.JOURNAL_STREAM
  if (journal !== undefined) {
    try {
      const st = fs.fstatSync(2)
      if (journal === `${st.dev}:${st.ino}`) return 'inherit'
    } catch {}
  }
  return fs.openSync(logFile, 'a', 0o640)
}

export async function daemonize (script: string, args: string[], logFile: string, timeoutMs: number): Promise<Started> {
  const stderr = logTarget(logFile)
  const child = spawn(process.execPath, [script, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', stderr, 'pipe'],
  })
  if (typeof stderr === 'number') fs.closeSync(stderr)
  const pipe = child.stdio[READY_FD] as Readable | null | undefined
  if (pipe === null || pipe === undefined || child.pid === undefined) return { kind: 'failed', code: 1, message: 'cannot start the daemon' }
  const pid = child.pid
  let said = ''
  const exited = new Promise<number>(resolve => child.once('exit', (code, signal) => resolve(code ?? (signal !== null ? 128 : 1))))
  const result = await new Promise<Started>(resolve => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM')
      resolve({ kind: 'failed', code: 1, message: `the daemon (pid ${pid}) was not ready after ${timeoutMs / 1000} s; stopped it` })
    }, timeoutMs)
    pipe.setEncoding('utf8')
    pipe.on('data', (s: string) => {
      said += s
      if (/^ready$/m.test(said)) { clearTimeout(timer); resolve({ kind: 'ready', pid }) }
    })
    pipe.on('end', () => {
      void exited.then(code => {
        clearTimeout(timer)
        resolve({ kind: 'failed', code: code === 0 ? 1 : code, message: said.trim() === '' ? `the daemon exited with status ${code}` : said.trim() })
      })
    })
  })
  pipe.destroy()
  child.unref()
  return result
}
