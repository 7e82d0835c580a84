// `nsfs umount [MOUNTPOINT]`: stop the daemon serving a mountpoint, or
// detach a mount that has none; `--force` first aborts the FUSE connection
// through the kernel, for a daemon that hangs (daemon/stop.ts).
import path from 'node:path'
import { DEFAULTS } from '../daemon/settings.js'
import { cleanStale, stopDaemon } from '../daemon/stop.js'
import { parseCommandLine, usageError, type Command } from './command.js'

const say = (msg: string): void => { process.stderr.write(`nsfs: ${msg}\n`) }

export const umountCommand: Command = {
  name: 'umount',
  summary: `unmount the tree and stop its daemon (default ${DEFAULTS.mountpoint})`,
  usage: `usage: nsfs umount [MOUNTPOINT] [--force|--stale] [--timeout S] [--run-dir DIR]

Stops the daemon serving MOUNTPOINT (default ${DEFAULTS.mountpoint}) with SIGTERM and
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
  --run-dir DIR    where the daemon's status file is (default ${DEFAULTS.runDir})
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
    const mountpoint = path.resolve(positionals[0] ?? DEFAULTS.mountpoint)
    const runDir = path.resolve(values['run-dir'] ?? DEFAULTS.runDir)
    const force = values.force === true
    if (force && values.stale === true) return usageError(umountCommand, '--force and --stale exclude each other')
    if (values.stale === true) return cleanStale(mountpoint, runDir, say)
    return await stopDaemon({ mountpoint, runDir, force, timeoutSeconds: timeout, say })
  },
}
