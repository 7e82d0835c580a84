// The nsfs options of mount(8)'s `-o` list and of a config file: the same
// `key=value` words either way. The generic options mount(8) and fstab add
// for every filesystem are accepted and ignored; anything else is an error
// that names it.
import fs from 'node:fs'
import { NsfsError } from '../errors.js'
import { isLevel, type Level } from '../log.js'

export interface NsfsOptions {
  seed?: string | undefined
  stateDir?: string | undefined
  runDir?: string | undefined
  logLevel?: Level | undefined
  intervalMs?: number | undefined
  sweepSeconds?: number | undefined
  events?: 'auto' | 'off' | undefined
  eventBufferBytes?: number | undefined
  userns?: string | undefined
  config?: string | undefined
}

// Options that mean nothing to nsfs (it always mounts nosuid, nodev,
// allow_other, default_permissions) but that mount(8) passes along.
const GENERIC = new Set([
  'defaults', 'rw', 'suid', 'nosuid', 'dev', 'nodev', 'exec', 'noexec', 'auto', 'noauto',
  'user', 'nouser', 'users', 'owner', 'group', 'nofail', '_netdev', 'atime', 'noatime',
  'relatime', 'norelatime', 'strictatime', 'diratime', 'nodiratime', 'async', 'sync',
  'allow_other', 'default_permissions', 'loud', 'silent',
])

export function parseInterval (text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 10) throw new NsfsError('EINVAL', `interval must be an integer >= 10 (milliseconds), got '${text}'`)
  return n
}

export function parseSeconds (text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1) throw new NsfsError('EINVAL', `the sweep period must be a whole number of seconds >= 1, got '${text}'`)
  return n
}

export function parseEvents (text: string): 'auto' | 'off' {
  if (text !== 'auto' && text !== 'off') throw new NsfsError('EINVAL', `events must be auto or off, got '${text}'`)
  return text
}

export function parseBytes (text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 4096 || n > 1 << 30) throw new NsfsError('EINVAL', `event_buffer must be a number of bytes from 4096 to 1073741824, got '${text}'`)
  return n
}

export function parseLevel (text: string): Level {
  if (!isLevel(text)) throw new NsfsError('EINVAL', `log level must be one of error, warn, info, debug, got '${text}'`)
  return text
}

// "rw,seed=00ff,log_level=debug" → { seed: '00ff', logLevel: 'debug' }.
// Commas and newlines both separate; '#' starts a comment to the line's end.
export function parseOptions (text: string): NsfsOptions {
  const out: NsfsOptions = {}
  const words = text.split('\n').map(l => l.replace(/#.*/, '')).join(',').split(',').map(w => w.trim()).filter(w => w !== '')
  for (const word of words) {
    const eq = word.indexOf('=')
    const key = eq < 0 ? word : word.slice(0, eq)
    const value = eq < 0 ? undefined : word.slice(eq + 1)
    if (GENERIC.has(key) || key.startsWith('x-') || key === 'comment') continue
    if (value === undefined || value === '') throw new NsfsError('EINVAL', `option '${key}' needs a value (${key}=…)`)
    switch (key) {
      case 'seed': out.seed = value; break
      case 'state_dir': out.stateDir = value; break
      case 'run_dir': out.runDir = value; break
      case 'log_level': out.logLevel = parseLevel(value); break
      case 'interval_ms': out.intervalMs = parseInterval(value); break
      case 'config': out.config = value; break
      case 'sweep_s': out.sweepSeconds = parseSeconds(value); break
      case 'events': out.events = parseEvents(value); break
      case 'event_buffer': out.eventBufferBytes = parseBytes(value); break
      case 'userns': out.userns = value; break
      default: throw new NsfsError('EINVAL', `unknown mount option '${word}'`)
    }
  }
  return out
}

export function readConfig (file: string): NsfsOptions {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw new NsfsError('ENOENT', 'cannot read the config file', { path: file, cause: err })
  }
  try {
    return parseOptions(text)
  } catch (err) {
    throw new NsfsError('EINVAL', `${err instanceof Error ? err.message : String(err)} in the config file`, { path: file })
  }
}
