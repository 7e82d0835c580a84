// Stopping the daemon that serves a mountpoint, from outside it: SIGTERM
// and a wait; with `force`, first the kernel's abort of its FUSE connection
// (a hung daemon answers nothing), then a lazy detach and, if it still
// runs, SIGKILL; without a daemon, an unmount of what it left. Reads the
// status files and the mount table only, never the mount. Each step is
// reported through `say`; answers the exit status.
import { spawnSync } from 'node:child_process'
import { detachMount } from '../kernel/fuse-mount.js'
import { abortMountConnection } from '../kernel/fusectl.js'
import { readMountinfo, type MountEntry } from '../kernel/mountinfo.js'
import { isAlive, readStatus, removeStale, type DaemonStatus } from './status.js'

export interface StopRequest {
  readonly mountpoint: string
  readonly runDir: string
  readonly force: boolean
  readonly timeoutSeconds: number
  readonly say: (msg: string) => void
}

function mountAt (mountpoint: string): MountEntry | undefined {
  return readMountinfo().filter(m => m.mountPoint === mountpoint).at(-1)
}

async function waitGone (s: DaemonStatus, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (isAlive(s)) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return true
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig) } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

function runningDaemon (runDir: string, mountpoint: string): { status: DaemonStatus | undefined, daemon: DaemonStatus | undefined } {
  const status = readStatus(runDir, mountpoint)
  return { status, daemon: status !== undefined && isAlive(status) ? status : undefined }
}

// Cleans up after a daemon that died: its mount detached, its files gone.
// A live daemon is left alone.
export function cleanStale (mountpoint: string, runDir: string, say: (msg: string) => void): number {
  const { daemon } = runningDaemon(runDir, mountpoint)
  if (daemon !== undefined) return 0
  removeStale(runDir, mountpoint)
  const mount = mountAt(mountpoint)
  if (mount === undefined || mount.fstype !== 'fuse.nsfs') return 0
  if (!detachMount(mountpoint)) {
    say(`cannot detach the stale mount at ${mountpoint}`)
    return 1
  }
  say(`detached a stale mount at ${mountpoint}`)
  return 0
}

export async function stopDaemon (r: StopRequest): Promise<number> {
  const { mountpoint, runDir, force, say } = r
  const { status, daemon } = runningDaemon(runDir, mountpoint)
  const mount = mountAt(mountpoint)
  if (mount !== undefined && mount.fstype !== 'fuse.nsfs') {
    say(`not an nsfs mount: ${mount.fstype} from ${mount.source} is mounted at ${mountpoint}`)
    return 1
  }
  if (mount === undefined && daemon === undefined) {
    if (status !== undefined) removeStale(runDir, mountpoint)
    say(`not mounted: ${mountpoint}`)
    return 1
  }

  if (force && mount !== undefined) {
    // Never stat or unmount through the hung mount: the kernel's control
    // files answer without asking the daemon.
    const conn = abortMountConnection(mount.device)
    say(conn === undefined ? `the FUSE connection of ${mountpoint} had ended already` : `aborted FUSE connection ${conn} of ${mountpoint}`)
    if (!detachMount(mountpoint)) {
      say(`cannot detach ${mountpoint}`)
      return 1
    }
  }
  if (daemon !== undefined) {
    signal(daemon.pid, 'SIGTERM')
    if (!await waitGone(daemon, r.timeoutSeconds * 1000)) {
      if (!force) {
        say(`the daemon (pid ${daemon.pid}) did not stop within ${r.timeoutSeconds} s; try \`nsfs umount --force ${mountpoint}\``)
        return 1
      }
      signal(daemon.pid, 'SIGKILL')
      say(`killed the daemon (pid ${daemon.pid}), which did not stop within ${r.timeoutSeconds} s`)
      await waitGone(daemon, 5000)
      removeStale(runDir, mountpoint)
    }
  } else if (mountAt(mountpoint) !== undefined) {
    // No daemon: a stale mount, or one served by a daemon we know nothing of.
    const u = spawnSync('umount', [mountpoint], { encoding: 'utf8' })
    if (u.status !== 0 && !detachMount(mountpoint)) {
      say(`cannot unmount ${mountpoint}: ${u.stderr.trim()}`)
      return 1
    }
    if (status !== undefined) removeStale(runDir, mountpoint)
  }
  if (mountAt(mountpoint) !== undefined) {
    say(`still mounted: ${mountpoint}`)
    return 1
  }
  return 0
}
