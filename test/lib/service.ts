// Helpers for tests that run nsfs as a service: `nsfs` commands with a
// private run directory, and a teardown that stops whatever daemon a test
// left behind (found through its status file) and detaches its mount.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import os from 'node:os'
import { escapePath, runFiles } from '../../src/daemon/status.js'
import { CLI, isMounted, sleep } from './harness.js'

interface Teardown { teardown: (fn: () => void | Promise<void>) => void }

export interface Result { status: number | null, stdout: string, stderr: string }

// Under load (other tests hold thousands of namespaces) a first scan can take
// tens of seconds; commands get that long.
export const SLOW_MS = 150_000

export function nsfs (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: SLOW_MS, env: opts.env ?? process.env })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

// Running, not a zombie: a --daemon's exited process waits for init to reap it.
export function pidAlive (pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))
  } catch { return false }
}

export async function waitExit (pid: number, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

export interface Site {
  mnt: string
  runDir: string
  // --run-dir RUN, to add to every command.
  run: string[]
  statusFile: string
  pidFile: string
  logFile: string
  // The daemon pid from the pid file, once there is one (remembered after).
  pid: () => number | undefined
}

// A temp mountpoint and run dir; at teardown the daemon (if any) is killed by
// its pid, the mount detached and both directories removed.
export function site (t: Teardown): Site {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-svc-'))
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-run-'))
  const { status: statusFile, pid: pidFile } = runFiles(runDir, mnt)
  const logFile = path.join(runDir, `${escapePath(mnt)}.log`)
  let lastPid: number | undefined
  const pid = (): number | undefined => {
    try { lastPid = Number(fs.readFileSync(pidFile, 'utf8')) } catch {}
    return lastPid
  }
  t.teardown(async () => {
    const p = pid()
    if (p !== undefined && pidAlive(p)) {
      process.kill(p, 'SIGKILL')
      await waitExit(p, 5000)
    }
    if (isMounted(mnt)) spawnSync('umount', ['-l', mnt])
    try { fs.rmdirSync(mnt) } catch {}
    fs.rmSync(runDir, { recursive: true, force: true })
  })
  return { mnt, runDir, run: ['--run-dir', runDir], statusFile, pidFile, logFile, pid }
}
