// Readers of procfs. Every function takes the procfs root, so discovery can
// run against a fixture tree in tests. A task that exits while we read it is
// normal: those reads answer undefined instead of throwing.
import fs from 'node:fs'
import koffi from 'koffi'
import os from 'node:os'
import { isNsType, type NsType } from '../model/namespace.js'
import { libc } from './libc.js'

const openRaw = libc.func('int open(const char *path, int flags)')
const readRaw = libc.func('long read(int fd, void *buf, size_t count)')
const closeRaw = libc.func('int close(int fd)')
const readlinkRaw = libc.func('long readlink(const char *path, void *buf, size_t size)')
const O_RDONLY_CLOEXEC = fs.constants.O_RDONLY | 0o2000000
const small = Buffer.alloc(4096)

// A short procfs file or link, read on the hot paths of discovery and of
// every handle's check: raw calls into one buffer, so neither a missing
// task (an errno, not an exception) nor the read costs an allocation.
// Undefined with the errno code when it cannot be read.
function rawError (): { code: string } {
  const errno = koffi.errno()
  return { code: Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] ?? 'EIO' }
}

export function readShort (path: string): string | { code: string } {
  const fd = openRaw(path, O_RDONLY_CLOEXEC) as number
  if (fd < 0) return rawError()
  const n = Number(readRaw(fd, small, small.length))
  const err = n < 0 ? rawError() : undefined
  closeRaw(fd)
  return err ?? small.toString('latin1', 0, n)
}

function readLinkRaw (path: string): string | { code: string } {
  const n = Number(readlinkRaw(path, small, small.length))
  return n < 0 ? rawError() : small.toString('latin1', 0, n)
}

function codeOf (err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code
}

// What procfs answers about a task that exited while we read it.
export function isGone (err: unknown): boolean {
  const code = codeOf(err)
  return code === 'ENOENT' || code === 'ESRCH'
}

// What it answers about a task we may not inspect.
export function isDenied (err: unknown): boolean {
  const code = codeOf(err)
  return code === 'EACCES' || code === 'EPERM'
}

function numericEntries (dir: string): number[] | undefined {
  try {
    return fs.readdirSync(dir).filter(n => /^\d+$/.test(n)).map(Number)
  } catch (err) {
    if (isGone(err)) return undefined
    throw err
  }
}

// Every process id; failing to read /proc at all is fatal.
export function listPids (procRoot: string): number[] {
  const pids = numericEntries(procRoot)
  if (pids === undefined) throw new Error(`cannot read ${procRoot}`)
  return pids
}

export function listTids (procRoot: string, pid: number): number[] | undefined {
  return numericEntries(`${procRoot}/${pid}/task`)
}

// The open file descriptors of a process; undefined when it is gone.
export function listFds (procRoot: string, pid: number): number[] | undefined {
  try {
    return numericEntries(`${procRoot}/${pid}/fd`)
  } catch (err) {
    // A process we may not inspect holds nothing we could hand out.
    if (isDenied(err)) return undefined
    throw err
  }
}

// "net:[4026531840]" → { type: 'net', ino: 4026531840 }
export function parseNsLink (text: string): { type: NsType, ino: number } | undefined {
  const m = /^([a-z]+):\[(\d+)\]$/.exec(text)
  if (m === null || m[1] === undefined || m[2] === undefined || !isNsType(m[1])) return undefined
  return { type: m[1], ino: Number(m[2]) }
}

export function readNsLink (path: string): { type: NsType, ino: number } | undefined {
  const text = readLinkRaw(path)
  if (typeof text === 'string') return parseNsLink(text)
  // EACCES: a task whose ns links we may not read (not root) is skipped too;
  // EINVAL: not a link at all (an fd that is a plain file).
  if (isGone(text) || isDenied(text) || text.code === 'EINVAL') return undefined
  throw new Error(`readlink ${path}: ${text.code}`)
}

// Field 22 of /proc/PID/task/TID/stat: start time in clock ticks since boot.
// The command name (field 2) may hold spaces and parentheses, so count from
// the last ')'.
export function parseStartTime (stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const start = fields[19]
  return start === undefined ? undefined : Number(start)
}

export function readTaskStart (procRoot: string, pid: number, tid: number): number | undefined {
  return readTaskStat(procRoot, pid, tid)?.start
}

// A task's start time, and whether it has exited: a zombie's user and pid
// links still read (they come from its credentials and its pid), yet no
// event comes when it is reaped, so discovery must count it gone at once.
export function readTaskStat (procRoot: string, pid: number, tid: number): { start: number, exited: boolean } | undefined {
  const stat = readShort(`${procRoot}/${pid}/task/${tid}/stat`)
  if (typeof stat !== 'string') {
    if (isGone(stat)) return undefined
    throw new Error(`read ${procRoot}/${pid}/task/${tid}/stat: ${stat.code}`)
  }
  const start = parseStartTime(stat)
  if (start === undefined) return undefined
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return { start, exited: state === 'Z' || state === 'X' }
}

// Field 3 of /proc/PID/stat: R, S, D, Z (zombie: exited, not yet reaped)…
export function readProcState (procRoot: string, pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`${procRoot}/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch (err) {
    if (isGone(err)) return undefined
    throw err
  }
}

export function readBootId (procRoot: string): string {
  return fs.readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'latin1').trim()
}

// The command line of a process, arguments joined by spaces ('' for a kernel
// thread, whose comm then names it); undefined when it is gone.
export function readCommand (procRoot: string, pid: number): string | undefined {
  try {
    const cmdline = fs.readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ')
    return cmdline !== '' ? cmdline : fs.readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim()
  } catch (err) {
    if (isGone(err)) return undefined
    throw err
  }
}

// The real uid of a process (/proc/PID/status "Uid:"); undefined when gone.
export function readProcessUid (procRoot: string, pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`${procRoot}/${pid}/status`, 'latin1'))
    return m?.[1] === undefined ? undefined : Number(m[1])
  } catch (err) {
    if (isGone(err)) return undefined
    throw err
  }
}

// Seconds since boot (/proc/uptime) in clock ticks, the unit of task start
// times. USER_HZ is 100 on every architecture Linux exposes to user space.
export const CLOCK_TICKS = 100
export function readUptimeTicks (procRoot: string): number {
  const text = readShort(`${procRoot}/uptime`)
  if (typeof text !== 'string') throw new Error(`cannot read ${procRoot}/uptime: ${text.code}`)
  return Math.floor(Number(text.split(' ')[0]) * CLOCK_TICKS)
}

// NSpid of /proc/PID/status: the pid in each pid namespace it is in,
// outermost (ours) first; undefined when the process is gone.
export function readNspid (procRoot: string, pid: number): number[] | undefined {
  let text: string
  try {
    text = fs.readFileSync(`${procRoot}/${pid}/status`, 'latin1')
  } catch (err) {
    if (isGone(err)) return undefined
    throw err
  }
  const line = /^NSpid:\s*(.*)$/m.exec(text)?.[1]
  return line === undefined ? undefined : line.trim().split(/\s+/).map(Number)
}
