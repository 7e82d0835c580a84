// `nsfs mount [MOUNTPOINT]`: mount the tree and serve it, in the foreground
// or as a daemon that returns once the mount is ready.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runDaemon } from '../daemon/daemon.js'
import { daemonize, READY_FD } from '../daemon/daemonize.js'
import { parseInterval, parseLevel, parseOptions, readConfig, type NsfsOptions } from '../daemon/options.js'
import { DEFAULT_RUN_DIR, escapePath } from '../daemon/status.js'
import { makeLogger, type Level } from '../log.js'
import { DEFAULT_STATE_DIR } from '../store/overlay-store.js'
import { parseCommandLine, usageError, type Command } from './command.js'

export const DEFAULT_MOUNTPOINT = '/run/nsfs'

export const mountCommand: Command = {
  name: 'mount',
  summary: `mount the namespace tree (default ${DEFAULT_MOUNTPOINT})`,
  usage: `usage: nsfs mount [MOUNTPOINT] [--foreground|--daemon] [OPTIONS]

Mounts the namespace tree at MOUNTPOINT (default ${DEFAULT_MOUNTPOINT}) and serves it
until SIGINT or SIGTERM (which unmount it and exit 0) or until it is unmounted
from outside (umount MOUNTPOINT). SIGHUP re-reads --config and rescans.

options:
  --foreground         serve in this process (the default)
  --daemon             serve in a detached process; return once the mount is
                       ready (exit 0), or print why it failed (exit 1)
  --state-dir DIR      where names given with mv are kept (default ${DEFAULT_STATE_DIR})
  --seed HEX           seed for default names instead of the kernel's boot id
  -o OPTIONS           mount(8)-style list: seed=HEX, state_dir=DIR,
                       log_level=LEVEL, interval_ms=N, run_dir=DIR, config=FILE;
                       generic ones (rw, nosuid, defaults, x-*, …) are ignored
  --config FILE        options as in -o, one or more per line; re-read on SIGHUP
                       (log_level and interval_ms apply at once)
  --interval-ms N      milliseconds between rescans of /proc (default 200)
  --log-level LEVEL    error, warn, info (default) or debug
  --log-file FILE      with --daemon: where the daemon logs (default: the
                       journal under systemd, else RUN_DIR/<mountpoint>.log)
  --run-dir DIR        where status and pid files go (default ${DEFAULT_RUN_DIR})
  --debug-fuse         log every FUSE request and its answer
  -h, --help           show this text

Later sources win: --config, then -o, then the other options.

exit status: 0 after a clean unmount (or, with --daemon, once mounted),
1 on any error, 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(mountCommand, argv, {
      foreground: { type: 'boolean' },
      daemon: { type: 'boolean' },
      'state-dir': { type: 'string' },
      seed: { type: 'string' },
      o: { type: 'string', short: 'o', multiple: true },
      config: { type: 'string' },
      'interval-ms': { type: 'string' },
      'log-level': { type: 'string' },
      'log-file': { type: 'string' },
      'run-dir': { type: 'string' },
      'debug-fuse': { type: 'boolean' },
      // Internal: the fd on which a --daemon parent waits for "ready".
      'ready-fd': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one mountpoint' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    if (values.foreground === true && values.daemon === true) return usageError(mountCommand, '--foreground and --daemon exclude each other')

    let o: NsfsOptions
    try {
      const fromO = parseOptions((values.o ?? []).join(','))
      const configFile = values.config ?? fromO.config
      o = { ...(configFile !== undefined ? readConfig(configFile) : {}), ...fromO, config: configFile }
      if (values.seed !== undefined) o.seed = values.seed
      if (values['state-dir'] !== undefined) o.stateDir = values['state-dir']
      if (values['run-dir'] !== undefined) o.runDir = values['run-dir']
      if (values['log-level'] !== undefined) o.logLevel = parseLevel(values['log-level'])
      if (values['interval-ms'] !== undefined) o.intervalMs = parseInterval(values['interval-ms'])
    } catch (err) {
      return usageError(mountCommand, err instanceof Error ? err.message : String(err))
    }
    const mountpoint = path.resolve(positionals[0] ?? DEFAULT_MOUNTPOINT)
    const runDir = path.resolve(o.runDir ?? DEFAULT_RUN_DIR)
    let level: Level = o.logLevel ?? 'info'

    if (values.daemon === true) {
      const args = ['mount', '--foreground', mountpoint, '--ready-fd', String(READY_FD),
        '--state-dir', path.resolve(o.stateDir ?? DEFAULT_STATE_DIR), '--run-dir', runDir,
        '--log-level', level, '--interval-ms', String(o.intervalMs ?? 200)]
      if (o.seed !== undefined) args.push('--seed', o.seed)
      if (o.config !== undefined) args.push('--config', path.resolve(o.config))
      if (values['debug-fuse'] === true) args.push('--debug-fuse')
      fs.mkdirSync(runDir, { recursive: true, mode: 0o755 })
      const logFile = path.resolve(values['log-file'] ?? path.join(runDir, `${escapePath(mountpoint)}.log`))
      const started = await daemonize(fileURLToPath(new URL('./main.js', import.meta.url)), args, logFile, 120_000)
      switch (started.kind) {
        case 'ready':
          makeLogger(level)('info', `mounted at ${mountpoint} (daemon pid ${started.pid})`)
          return 0
        case 'failed':
          process.stderr.write(`${started.message}\n`)
          return started.code
      }
    }

    // With --ready-fd, errors before the mount is ready also go to the parent.
    const readyFd = values['ready-fd'] === undefined ? undefined : Number(values['ready-fd'])
    let waiting = readyFd !== undefined
    const toParent = (line: string): void => {
      if (!waiting || readyFd === undefined) return
      try { fs.writeSync(readyFd, line) } catch {}
    }
    const log = makeLogger(() => level, line => {
      process.stderr.write(line)
      if (line.startsWith('nsfs: error:')) toParent(line)
    })
    const done = (): void => {
      if (!waiting || readyFd === undefined) return
      waiting = false
      try { fs.closeSync(readyFd) } catch {}
    }
    let code: number
    try {
      code = await runDaemon({
        mountpoint,
        seedHex: o.seed,
        stateDir: path.resolve(o.stateDir ?? DEFAULT_STATE_DIR),
        runDir,
        configFile: o.config === undefined ? undefined : path.resolve(o.config),
        procRoot: '/proc',
        intervalMs: o.intervalMs ?? 200,
        cacheSeconds: 10,
        debugFuse: values['debug-fuse'] === true,
        log,
        logLevel: level,
        setLogLevel: l => { level = l },
        onReady: () => { toParent('ready\n'); done() },
      })
    } catch (err) {
      log('error', err instanceof Error ? err.message : String(err))
      code = 1
    }
    done()
    // A mount detached while busy keeps the FUSE device reads pending, and
    // they hold the event loop; nothing is left to do, so do not wait.
    setTimeout(() => process.exit(code), 200).unref()
    return code
  },
}
