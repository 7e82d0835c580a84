// Helpers for tests that use the real kernel: start namespace holders and
// the daemon, and make sure every process and mount is gone afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const CLI = path.join(ROOT, 'dist/cli/main.js')

// Why kernel tests cannot run here, or undefined when they can.
export function kernelSkipReason (): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root'
  if (!fs.existsSync('/dev/fuse')) return 'needs /dev/fuse'
  if (!fs.existsSync(CLI)) return `needs the build (${CLI}); run npm test`
  return undefined
}

interface Teardown { teardown: (fn: () => void | Promise<void>) => void }

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

// Polls `fn` until it returns a value other than undefined, or fails after
// `ms` with `what` in the message.
export async function waitFor<T> (what: string, fn: () => T | undefined, ms = 5000, step = 20): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(step)
  }
}

export function readlinkOr (p: string): string | undefined {
  try { return fs.readlinkSync(p) } catch { return undefined }
}

export function exited (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise(resolve => child.once('exit', code => resolve(code)))
}

async function kill (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGKILL')
  await exited(child)
}

export interface Holder {
  child: ChildProcess
  pid: number
  // readlink of /proc/PID/ns/TYPE once the holder is set up.
  ns: (type: string) => string
  stop: () => Promise<void>
}

// Starts a process that ends in `sleep` after setting up namespaces
// (e.g. ['unshare', '--net']); resolves once the sleep runs. Killed by pid at
// teardown.
export async function startHolder (t: Teardown, prefix: string[], opts: { comm?: string } = {}): Promise<Holder> {
  const [cmd, ...args] = [...prefix, 'sleep', '3600']
  const child = spawn(cmd as string, args, { stdio: 'ignore' })
  const stop = async (): Promise<void> => { await kill(child) }
  t.teardown(stop)
  const pid = child.pid
  if (pid === undefined) throw new Error(`cannot start ${prefix.join(' ')}`)
  const comm = opts.comm ?? 'sleep'
  await waitFor(`${prefix.join(' ')} to reach ${comm}`, () => {
    if (child.exitCode !== null) throw new Error(`${prefix.join(' ')} exited with ${child.exitCode}`)
    try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm ? true : undefined } catch { return undefined }
  })
  return { child, pid, ns: type => fs.readlinkSync(`/proc/${pid}/ns/${type}`), stop }
}

export function tempDir (t: Teardown, prefix = 'nsfs-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => { try { fs.rmdirSync(dir) } catch {} })
  return dir
}

// A directory the daemon writes into (its name table, its status files),
// removed with its files.
export function stateDir (t: Teardown, prefix = 'nsfs-state-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => { fs.rmSync(dir, { recursive: true, force: true }) })
  return dir
}

export function isMounted (mountpoint: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some(l => l.split(' ')[4] === mountpoint)
}

export interface Daemon {
  child: ChildProcess
  mountpoint: string
  stderr: () => string
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

// Mounts nsfs at `mountpoint` and resolves once it serves; at teardown the
// daemon is stopped and any mount it left is detached. Names and status
// files go to temp directories unless `args` gives --state-dir / --run-dir.
// `wrap` runs the daemon under another command (e.g. setpriv).
export async function startDaemon (t: Teardown, mountpoint: string, args: string[] = [], wrap: string[] = []): Promise<Daemon> {
  const state = args.includes('--state-dir') ? [] : ['--state-dir', stateDir(t)]
  const run = args.includes('--run-dir') ? [] : ['--run-dir', stateDir(t, 'nsfs-run-')]
  const [cmd, ...pre] = [...wrap, process.execPath]
  const child = spawn(cmd as string, [...pre, CLI, 'mount', '--foreground', mountpoint, ...state, ...run, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s })
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return await exited(child)
  }
  t.teardown(async () => {
    await kill(child)
    if (isMounted(mountpoint)) spawnSync('umount', ['-l', mountpoint])
  })
  await waitFor(`nsfs to mount at ${mountpoint}`, () => {
    if (child.exitCode !== null) throw new Error(`nsfs exited with ${child.exitCode}: ${err}`)
    return err.includes(`mounted at ${mountpoint}`) ? true : undefined
  }, 60000)
  return { child, mountpoint, stderr: () => err, stop }
}

export function run (cmd: string, args: string[], opts: { input?: string } = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: 20000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

// Every entry under a mounted tree, as paths relative to the mountpoint.
// Uses readdir and lstat only, like `find`.
export function walk (root: string): string[] {
  const out: string[] = []
  const visit = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel === '' ? name : `${rel}/${name}`
      let isDir: boolean
      try {
        isDir = fs.lstatSync(path.join(root, r)).isDirectory()
      } catch (err) {
        // Its namespace died between readdir and lstat.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      out.push(r)
      if (isDir) visit(r)
    }
  }
  visit('')
  return out
}
