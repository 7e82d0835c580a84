// `nsfs mount [MOUNTPOINT]`: mount the tree and serve it, in the foreground
// or as a daemon that returns once the mount is ready.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import { Daemon } from '../daemon/daemon.js'
import { daemonize, READY_FD } from '../daemon/daemonize.js'
import { asArguments, commandLineOptions, DEFAULTS, resolveSettings, type Settings } from '../daemon/settings.js'
import { escapePath } from '../daemon/status.js'
import { makeLogger, type Level } from '../log.js'
import { parseCommandLine, usageError, type Command } from './command.js'

export const mountCommand: Command = {
  name: 'mount',
  summary: `mount the namespace tree (default ${DEFAULTS.mountpoint})`,
  usage: `usage: nsfs mount [MOUNTPOINT] [--foreground|--daemon] [OPTIONS]

Mounts the namespace tree at MOUNTPOINT (default ${DEFAULTS.mountpoint}) and serves it
until SIGINT or SIGTERM (which unmount it and exit 0) or until it is unmounted
from outside (umount MOUNTPOINT). SIGHUP re-reads --config and rescans.

options:
  --foreground         serve in this process (the default)
  --daemon             serve in a detached process; return once the mount is
                       ready (exit 0), or print why it failed (exit 1)
  --userns PATH        mount the subtree of this user namespace (a
                       /proc/PID/ns/user or an entry of a tree) as the root,
                       e.g. to give a container its own view (default: the
                       daemon's own user namespace)
  --state-dir DIR      where names given with mv, and the secret default
                       names derive from, are kept (default ${DEFAULTS.stateDir})
  --seed HEX           seed for default names instead of the secret one
  -o OPTIONS           mount(8)-style list: seed=HEX, state_dir=DIR,
                       log_level=LEVEL, interval_ms=N, run_dir=DIR, config=FILE,
                       userns=PATH, events=auto|off, sweep_s=N,
                       event_buffer=BYTES (the kernel's buffer for process
                       events, default ${DEFAULTS.eventBufferBytes}; events beyond it are
                       lost and made up for by a rescan);
                       generic ones (rw, nosuid, defaults, x-*, …) are ignored
  --config FILE        options as in -o, one or more per line; re-read on SIGHUP
                       (log_level and interval_ms apply at once)
  --interval-ms N      milliseconds between scans of /proc when polling
                       (default ${DEFAULTS.intervalMs}; with the kernel's events, mount
                       namespaces without mount events are read this often)
  --log-level LEVEL    error, warn, info (default) or debug
  --log-file FILE      with --daemon: where the daemon logs (default: the
                       journal under systemd, else RUN_DIR/<mountpoint>.log)
  --run-dir DIR        where status and pid files go (default ${DEFAULTS.runDir})
  --debug-fuse         log every FUSE request and its answer
  -h, --help           show this text

Discovery follows the kernel's process events (events=auto) and re-reads
every process once per sweep_s seconds (default ${DEFAULTS.sweepSeconds}) for what no event
reports; events=off, or a kernel that gives none, polls every interval_ms.
\`nsfs watch\` follows the changes as they happen.
Later sources win: --config, then -o, then the other options.

exit status: 0 after a clean unmount (or, with --daemon, once mounted),
1 on any error, 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(mountCommand, argv, {
      foreground: { type: 'boolean' },
      daemon: { type: 'boolean' },
      userns: { type: 'string' },
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
    let s: Settings
    try {
      s = resolveSettings({ ...commandLineOptions(values), mountpoint: positionals[0] })
    } catch (err) {
      return usageError(mountCommand, err instanceof Error ? err.message : String(err))
    }
    if (values.daemon === true) return await inBackground(s, values['log-file'])
    return await inForeground(s, values['ready-fd'] === undefined ? undefined : Number(values['ready-fd']))
  },
}

async function inBackground (s: Settings, logFile: string | undefined): Promise<number> {
  fs.mkdirSync(s.runDir, { recursive: true, mode: 0o755 })
  const log = path.resolve(logFile ?? path.join(s.runDir, `${escapePath(s.mountpoint)}.log`))
  const args = ['mount', '--foreground', ...asArguments(s), '--ready-fd', String(READY_FD)]
  const started = await daemonize(fileURLToPath(new URL('./main.js', import.meta.url)), args, log, DEFAULTS.readyTimeoutMs)
  switch (started.kind) {
    case 'ready':
      makeLogger(s.logLevel)('info', `mounted at ${s.mountpoint} (daemon pid ${started.pid})`)
      return 0
    case 'failed':
      process.stderr.write(`${started.message}\n`)
      return started.code
  }
}

async function inForeground (s: Settings, readyFd: number | undefined): Promise<number> {
  let level: Level = s.logLevel
  // With --ready-fd, errors before the mount is ready also go to the parent.
  let waiting = readyFd !== undefined
  const toParent = (text: string): void => {
    if (!waiting || readyFd === undefined) return
    try { fs.writeSync(readyFd, text) } catch {}
  }
  const log = makeLogger(() => level, text => {
    process.stderr.write(text)
    if (text.startsWith('nsfs: error:')) toParent(text)
  })
  const done = (): void => {
    if (!waiting || readyFd === undefined) return
    waiting = false
    try { fs.closeSync(readyFd) } catch {}
  }
  // A daemon that runs for good keeps its heap near what it holds: by
  // default V8 leaves it room to grow several times over (60,000
  // namespaces: 325 MiB at rest, 203 with this). Round trips are no slower;
  // whole-tree walks at 60,000 and churn cost more CPU (README, Performance).
  v8.setFlagsFromString('--optimize-for-size')
  let code: number
  try {
    code = await Daemon.run(s, {
      log,
      setLogLevel: l => { level = l },
      onReady: () => { toParent('ready\n'); done() },
    })
  } catch (err) {
    log('error', err instanceof Error ? err.message : String(err))
    code = 1
  }
  done()
  return code
}
