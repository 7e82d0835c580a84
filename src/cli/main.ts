#!/usr/bin/env node
// nsfs command line: `nsfs mount [MOUNTPOINT] [OPTIONS]`.
import { parseArgs } from 'node:util'
import { runDaemon } from '../daemon/daemon.js'
import { LEVELS, makeLogger, type Level } from '../log.js'

export const DEFAULT_MOUNTPOINT = '/run/nsfs'

const USAGE = `usage: nsfs <command> [options]

commands:
  mount [MOUNTPOINT]   mount the namespace tree (default ${DEFAULT_MOUNTPOINT}) and
                       serve it in the foreground until SIGINT or SIGTERM
  help                 show this text

mount options:
  --foreground         stay in the foreground (the only mode so far)
  --seed HEX           seed for default names instead of the kernel's boot id
  --interval-ms N      milliseconds between rescans of /proc (default 200)
  --log-level LEVEL    error, warn, info (default) or debug
  --debug-fuse         let libfuse print every request
  -h, --help           show this text

exit status: 0 after a clean unmount, 1 on any error, 2 on bad usage.
`

function usageError (msg: string): number {
  process.stderr.write(`nsfs: ${msg}\n${USAGE}`)
  return 2
}

async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        foreground: { type: 'boolean' },
        seed: { type: 'string' },
        'interval-ms': { type: 'string' },
        'log-level': { type: 'string' },
        'debug-fuse': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    return usageError(err instanceof Error ? err.message : String(err))
  }
  const { values, positionals } = parsed
  const [command = 'help', ...rest] = positionals
  if (values.help === true || command === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  switch (command) {
    case 'mount': {
      if (rest.length > 1) return usageError(`mount takes one mountpoint, got: ${rest.join(' ')}`)
      const level = values['log-level'] ?? 'info'
      if (!(LEVELS as readonly string[]).includes(level)) return usageError(`--log-level must be one of ${LEVELS.join(', ')}, got '${level}'`)
      const interval = Number(values['interval-ms'] ?? 200)
      if (!Number.isInteger(interval) || interval < 10) return usageError(`--interval-ms must be an integer >= 10, got '${values['interval-ms']}'`)
      return await runDaemon({
        mountpoint: rest[0] ?? DEFAULT_MOUNTPOINT,
        seedHex: values.seed,
        procRoot: '/proc',
        intervalMs: interval,
        cacheSeconds: '0.2',
        debugFuse: values['debug-fuse'] === true,
        log: makeLogger(level as Level),
      })
    }
    default:
      return usageError(`unknown command '${command}'`)
  }
}

main(process.argv.slice(2)).then(
  code => { process.exitCode = code },
  (err: unknown) => {
    process.stderr.write(`nsfs: error: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
