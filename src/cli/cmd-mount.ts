// `nsfs mount [MOUNTPOINT]`: mount the tree and serve it.
import { parseArgs } from 'node:util'
import { runDaemon } from '../daemon/daemon.js'
import { DEFAULT_STATE_DIR } from '../store/overlay-store.js'
import { LEVELS, makeLogger, type Level } from '../log.js'
import { usageError, type Command } from './command.js'

export const DEFAULT_MOUNTPOINT = '/run/nsfs'

export const mountCommand: Command = {
  name: 'mount',
  summary: `mount the namespace tree (default ${DEFAULT_MOUNTPOINT})`,
  usage: `usage: nsfs mount [MOUNTPOINT] [OPTIONS]

Mounts the namespace tree at MOUNTPOINT (default ${DEFAULT_MOUNTPOINT}) and serves it
in the foreground until SIGINT or SIGTERM, which unmount it and exit 0.

options:
  --foreground         stay in the foreground (the only mode so far)
  --seed HEX           seed for default names instead of the kernel's boot id
  --interval-ms N      milliseconds between rescans of /proc (default 200)
  --state-dir DIR      where names given with mv are kept (default ${DEFAULT_STATE_DIR})
  --log-level LEVEL    error, warn, info (default) or debug
  --debug-fuse         let libfuse print every request
  -h, --help           show this text

exit status: 0 after a clean unmount, 1 on any error, 2 on bad usage.
`,
  run: async argv => {
    let parsed
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          foreground: { type: 'boolean' },
          seed: { type: 'string' },
          'interval-ms': { type: 'string' },
          'state-dir': { type: 'string' },
          'log-level': { type: 'string' },
          'debug-fuse': { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      })
    } catch (err) {
      return usageError(mountCommand, err instanceof Error ? err.message : String(err))
    }
    const { values, positionals } = parsed
    if (values.help === true) {
      process.stdout.write(mountCommand.usage)
      return 0
    }
    if (positionals.length > 1) return usageError(mountCommand, `mount takes one mountpoint, got: ${positionals.join(' ')}`)
    const level = values['log-level'] ?? 'info'
    if (!(LEVELS as readonly string[]).includes(level)) return usageError(mountCommand, `--log-level must be one of ${LEVELS.join(', ')}, got '${level}'`)
    const interval = Number(values['interval-ms'] ?? 200)
    if (!Number.isInteger(interval) || interval < 10) return usageError(mountCommand, `--interval-ms must be an integer >= 10, got '${values['interval-ms']}'`)
    return await runDaemon({
      mountpoint: positionals[0] ?? DEFAULT_MOUNTPOINT,
      seedHex: values.seed,
      procRoot: '/proc',
      intervalMs: interval,
      stateDir: values['state-dir'] ?? DEFAULT_STATE_DIR,
      cacheSeconds: '0.2',
      debugFuse: values['debug-fuse'] === true,
      log: makeLogger(level as Level),
    })
  },
}
