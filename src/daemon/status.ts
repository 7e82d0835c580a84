// What a running daemon publishes about itself, outside its own mount: a
// JSON status file per mountpoint in the run directory, replaced atomically
// after every scan and removed at a clean exit. `nsfs status` and
// `nsfs umount` read it; a second daemon uses it to refuse to start. The pid
// file beside it is for systemd's PIDFile=.
import fs from 'node:fs'
import path from 'node:path'
import { NsfsError } from '../errors.js'
import { readProcState, readTaskStart } from '../kernel/procfs.js'


export interface DaemonStatus {
  readonly mountpoint: string
  readonly pid: number
  // Start time of the pid in clock ticks since boot: tells our daemon from a
  // later process that reused its pid.
  readonly pidStart: number
  readonly startedAt: number
  readonly mounted: boolean
  readonly namespaces: number
  readonly lastScanAt: number | null
  readonly lastScanMs: number | null
  readonly scans: number
  // Entries in the rename overlay table.
  readonly tableSize: number
  readonly logLevel: string
  // How discovery follows the host: the kernel's events, or polling.
  readonly discovery?: 'events' | 'poll' | null
}

// systemd-escape --path: '/run/nsfs' → 'run-nsfs', so the files of a
// mountpoint have the name systemd would give its mount unit.
export function escapePath (abs: string): string {
  const trimmed = abs.split('/').filter(p => p !== '').join('/')
  if (trimmed === '') return '-'
  let out = ''
  for (const [i, ch] of [...Buffer.from(trimmed, 'utf8')].entries()) {
    const c = String.fromCharCode(ch)
    if (c === '/') out += '-'
    else if (/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0)) out += c
    else out += `\\x${ch.toString(16).padStart(2, '0')}`
  }
  return out
}

export interface RunFiles {
  readonly status: string
  readonly pid: string
  // The unix socket `nsfs watch` connects to.
  readonly events: string
}

export function runFiles (runDir: string, mountpoint: string): RunFiles {
  const base = path.join(runDir, escapePath(mountpoint))
  return { status: `${base}.json`, pid: `${base}.pid`, events: `${base}.sock` }
}

function writeAtomic (file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, text, { mode: 0o644 })
  fs.renameSync(tmp, file)
}

export class StatusPublisher {
  private readonly files: RunFiles

  constructor (private readonly runDir: string, private readonly mountpoint: string) {
    try {
      fs.mkdirSync(runDir, { recursive: true, mode: 0o755 })
    } catch (err) {
      throw new NsfsError('EIO', 'cannot create the run directory', { path: runDir, cause: err })
    }
    this.files = runFiles(runDir, mountpoint)
  }

  publish (status: DaemonStatus): void {
    writeAtomic(this.files.status, `${JSON.stringify(status)}\n`)
  }

  writePid (pid: number): void {
    writeAtomic(this.files.pid, `${pid}\n`)
  }

  remove (): void {
    removeStale(this.runDir, this.mountpoint)
  }
}

function isStatus (v: unknown): v is DaemonStatus {
  const s = v as Record<string, unknown> | null
  return typeof s === 'object' && s !== null && typeof s.mountpoint === 'string' &&
    typeof s.pid === 'number' && typeof s.pidStart === 'number' && typeof s.startedAt === 'number'
}

// The status a daemon left for `mountpoint`, or undefined when there is none.
export function readStatus (runDir: string, mountpoint: string): DaemonStatus | undefined {
  const file = runFiles(runDir, mountpoint).status
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new NsfsError('EIO', 'cannot read the status file', { path: file, cause: err })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new NsfsError('EIO', 'the status file is not JSON', { path: file, cause: err })
  }
  if (!isStatus(parsed)) throw new NsfsError('EIO', 'the status file lacks mountpoint, pid or start times', { path: file })
  return parsed
}

// Whether the process that wrote `s` still runs (and is not a newcomer that
// reused its pid). An exited daemon that its parent (often init, for a
// --daemon) has not reaped yet counts as gone.
export function isAlive (s: Pick<DaemonStatus, 'pid' | 'pidStart'>, procRoot = '/proc'): boolean {
  if (readTaskStart(procRoot, s.pid, s.pid) !== s.pidStart) return false
  const state = readProcState(procRoot, s.pid)
  return state !== undefined && state !== 'Z' && state !== 'X'
}

export function removeStale (runDir: string, mountpoint: string): void {
  const f = runFiles(runDir, mountpoint)
  for (const file of [f.status, f.pid, f.events]) fs.rmSync(file, { force: true })
}
