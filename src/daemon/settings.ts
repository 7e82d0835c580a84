// What a mount daemon runs with, resolved once from its sources (a config
// file, then -o, then the command line; later sources win), with every
// default in one place. Each layer is handed the part it needs.
import path from 'node:path'
import type { Level } from '../log.js'
import { parseInterval, parseLevel, parseOptions, readConfig, type NsfsOptions } from './options.js'

export const DEFAULTS = {
  mountpoint: '/run/nsfs',
  runDir: '/run/nsfs.d',
  stateDir: '/var/lib/nsfs',
  procRoot: '/proc',
  intervalMs: 200,
  sweepSeconds: 60,
  events: 'auto',
  logLevel: 'info',
  // A burst of some 20,000 events fits before any is lost.
  eventBufferBytes: 4 << 20,
  // How often the daemon checks that its mount is still in the mount table
  // (a lazy unmount from outside ends no connection).
  mountCheckMs: 1000,
  // How long `mount --daemon` waits for the daemon to serve.
  readyTimeoutMs: 120_000,
} as const

export interface Settings {
  readonly mountpoint: string
  readonly stateDir: string
  readonly runDir: string
  readonly configFile: string | undefined
  readonly seedHex: string | undefined
  // A user namespace (a /proc/PID/ns/user path or an entry of a tree) whose
  // subtree is mounted as the root; undefined: the daemon's own.
  readonly userns: string | undefined
  readonly procRoot: string
  readonly intervalMs: number
  readonly sweepSeconds: number
  readonly events: 'auto' | 'off'
  readonly eventBufferBytes: number
  readonly logLevel: Level
  readonly debugFuse: boolean
  readonly mountCheckMs: number
}

// What the command line gave, before the sources are merged.
export interface CommandLine extends NsfsOptions {
  readonly mountpoint?: string | undefined
  readonly o?: readonly string[] | undefined
  readonly debugFuse?: boolean | undefined
}

// The settings from a config file (named by the command line or by -o),
// -o, and the command line's own options, in that order. Throws NsfsError
// (EINVAL) naming what is wrong.
export function resolveSettings (cli: CommandLine): Settings {
  const fromO = parseOptions((cli.o ?? []).join(','))
  const configFile = cli.config ?? fromO.config
  const merged: NsfsOptions = { ...(configFile !== undefined ? readConfig(configFile) : {}), ...fromO, ...defined(cli) }
  return {
    mountpoint: path.resolve(cli.mountpoint ?? DEFAULTS.mountpoint),
    stateDir: path.resolve(merged.stateDir ?? DEFAULTS.stateDir),
    runDir: path.resolve(merged.runDir ?? DEFAULTS.runDir),
    configFile: configFile === undefined ? undefined : path.resolve(configFile),
    seedHex: merged.seed,
    userns: merged.userns === undefined ? undefined : path.resolve(merged.userns),
    procRoot: DEFAULTS.procRoot,
    intervalMs: merged.intervalMs ?? DEFAULTS.intervalMs,
    sweepSeconds: merged.sweepSeconds ?? DEFAULTS.sweepSeconds,
    events: merged.events ?? DEFAULTS.events,
    eventBufferBytes: merged.eventBufferBytes ?? DEFAULTS.eventBufferBytes,
    logLevel: merged.logLevel ?? DEFAULTS.logLevel,
    debugFuse: cli.debugFuse === true,
    mountCheckMs: DEFAULTS.mountCheckMs,
  }
}

// The command-line options that a daemon started with --daemon is given, so
// it resolves the very same settings.
export function asArguments (s: Settings): string[] {
  const args = [s.mountpoint, '--state-dir', s.stateDir, '--run-dir', s.runDir, '--log-level', s.logLevel,
    '--interval-ms', String(s.intervalMs), '-o', `sweep_s=${s.sweepSeconds},events=${s.events},event_buffer=${s.eventBufferBytes}`]
  if (s.seedHex !== undefined) args.push('--seed', s.seedHex)
  if (s.userns !== undefined) args.push('--userns', s.userns)
  if (s.configFile !== undefined) args.push('--config', s.configFile)
  if (s.debugFuse) args.push('--debug-fuse')
  return args
}

// The options the command line gave outright (undefined ones would hide
// those of the config file and -o).
function defined (cli: CommandLine): NsfsOptions {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(cli)) if (v !== undefined && k !== 'mountpoint' && k !== 'o' && k !== 'debugFuse' && k !== 'config') out[k] = v
  return out as NsfsOptions
}

// The command line's option values, validated.
// Throws NsfsError (EINVAL) naming a bad value.
export function commandLineOptions (values: Record<string, string | boolean | Array<string | boolean> | undefined>): CommandLine {
  const str = (k: string): string | undefined => {
    const v = values[k]
    return typeof v === 'string' ? v : undefined
  }
  const interval = str('interval-ms')
  const level = str('log-level')
  const o = values.o
  return {
    mountpoint: undefined,
    seed: str('seed'),
    stateDir: str('state-dir'),
    runDir: str('run-dir'),
    userns: str('userns'),
    config: str('config'),
    intervalMs: interval === undefined ? undefined : parseInterval(interval),
    logLevel: level === undefined ? undefined : parseLevel(level),
    o: Array.isArray(o) ? o.filter((x): x is string => typeof x === 'string') : undefined,
    debugFuse: values['debug-fuse'] === true,
  }
}
