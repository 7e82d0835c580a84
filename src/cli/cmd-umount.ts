// `nsfs umount [MOUNTPOINT]`: stop the daemon serving a mountpoint, or
// detach a mount that has none; `--force` first aborts the FUSE connection
// through the kernel, for a daemon that hangs.
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { DEFAULT_RUN_DIR, isAlive, readStatus, removeStale, type DaemonStatus } from '../daemon/status.js'
import { detachMount } from '../kernel/fuse-mount.js'
import { abortMountConnection } from '../kernel/fusectl.js'
import { readMountinfo, type MountEntry } from '../kernel/mountinfo.js'
import { parseCommandLine, usageError, type Command } from './command.js'
import { DEFAULT_MOUNTPOINT } from './cmd-mount.js'

const say = (msg: string): void => { process.stderr.write(`nsfs: ${msg}\n`) }

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

function cleanStale (mountpoint: string, runDir: string, daemon: DaemonStatus | undefined, mount: MountEntry | undefined): number {
  if (daemon !== undefined) return 0
  removeStale(runDir, mountpoint)
  if (mount === undefined || mount.fstype !== 'fuse.nsfs') return 0
  if (!detachMount(mountpoint)) {
    say(`cannot detach the stale mount at ${mountpoint}`)
    return 1
  }
  say(`detached a stale mount at ${mountpoint}`)
  return 0
}

export const umountCommand: Command = {
  name: 'umount',
  summary: `unmount the tree and stop its daemon (default ${DEFAULT_MOUNTPOINT})`,
  usage: `usage: nsfs umount [MOUNTPOINT] [--force|--stale] [--timeout S] [--run-dir DIR]

Stops the daemon serving MOUNTPOINT (default ${DEFAULT_MOUNTPOINT}) with SIGTERM and
waits until it has unmounted and exited. A mount without a daemon (left by
one that was killed) is detached.

options:
  --force          abort the FUSE connection first (through fusectl at
                   /sys/fs/fuse/connections, mounted if needed), detach the
                   mount lazily and kill a daemon that does not exit
  --stale          only clean up after a daemon that died: detach its mount
                   and remove its files, leave a live daemon alone; exit 0
                   when nothing stale is left (systemd runs this before start
                   and after stop)
  --timeout S      seconds to wait for the daemon (default 10)
  --run-dir DIR    where the daemon's status file is (default ${DEFAULT_RUN_DIR})
  -h, --help       show this text

exit status: 0 once nothing is mounted there and no daemon runs for it,
1 if it was not mounted or could not be stopped, 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(umountCommand, argv, {
      force: { type: 'boolean' },
      stale: { type: 'boolean' },
      timeout: { type: 'string' },
      'run-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one mountpoint' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    const timeout = Number(values.timeout ?? 10)
    if (!Number.isFinite(timeout) || timeout <= 0) return usageError(umountCommand, `--timeout must be a positive number of seconds, got '${values.timeout}'`)
    const mountpoint = path.resolve(positionals[0] ?? DEFAULT_MOUNTPOINT)
    const runDir = path.resolve(values['run-dir'] ?? DEFAULT_RUN_DIR)
    const force = values.force === true
    if (force && values.stale === true) return usageError(umountCommand, '--force and --stale exclude each other')

    const status = readStatus(runDir, mountpoint)
    const daemon = status !== undefined && isAlive(status) ? status : undefined
    const mount = mountAt(mountpoint)
    if (values.stale === true) return cleanStale(mountpoint, runDir, daemon, mount)
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
      if (!await waitGone(daemon, timeout * 1000)) {
        if (!force) {
          say(`the daemon (pid ${daemon.pid}) did not stop within ${timeout} s; try \`nsfs umount --force ${mountpoint}\``)
          return 1
        }
        signal(daemon.pid, 'SIGKILL')
        say(`killed the daemon (pid ${daemon.pid}), which did not stop within ${timeout} s`)
        await waitGone(daemon, 5000)
        removeStale(runDir, mountpoint)
      }
    } else if (mountAt(mountpoint) !== undefined) {
      // No daemon: a stale mount, or one served by a daemon we know nothing of.
      const r = spawnSync('umount', [mountpoint], { encoding: 'utf8' })
      if (r.status !== 0 && !detachMount(mountpoint)) {
        say(`cannot unmount ${mountpoint}: ${r.stderr.trim()}`)
        return 1
      }
      if (status !== undefined) removeStale(runDir, mountpoint)
    }
    if (mountAt(mountpoint) !== undefined) {
      say(`still mounted: ${mountpoint}`)
      return 1
    }
    return 0
  },
}
