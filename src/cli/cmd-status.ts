// `nsfs status [MOUNTPOINT]`: what the daemon serving a mountpoint published
// about itself. Reads the status file and the mount table only, never the
// mount, so it answers even when the daemon hangs.
import path from 'node:path'
import { DEFAULTS } from '../daemon/settings.js'
import { isAlive, readStatus, type DaemonStatus } from '../daemon/status.js'
import { readMountinfo } from '../kernel/mountinfo.js'
import { parseCommandLine, type Command } from './command.js'

export type State = 'running' | 'starting' | 'stale' | 'not-running'

export interface StatusReport {
  mountpoint: string
  state: State
  mounted: boolean
  pid: number | null
  uptimeSeconds: number | null
  namespaces: number | null
  lastScanAt: string | null
  lastScanMs: number | null
  scans: number | null
  tableSize: number | null
  logLevel: string | null
}

// Pure: the report for a status file (or none), the daemon's liveness and the
// mount table's answer, at time `now`.
export function report (mountpoint: string, s: DaemonStatus | undefined, alive: boolean, mounted: boolean, now: number): StatusReport {
  const state: State = s === undefined || !alive
    ? (mounted ? 'stale' : 'not-running')
    : (s.mounted && mounted ? 'running' : 'starting')
  const live = s !== undefined && alive ? s : undefined
  return {
    mountpoint,
    state,
    mounted,
    pid: live?.pid ?? null,
    uptimeSeconds: live === undefined ? null : Math.round((now - live.startedAt) / 1000),
    namespaces: live?.namespaces ?? null,
    lastScanAt: live?.lastScanAt == null ? null : new Date(live.lastScanAt).toISOString(),
    lastScanMs: live?.lastScanMs ?? null,
    scans: live?.scans ?? null,
    tableSize: live?.tableSize ?? null,
    logLevel: live?.logLevel ?? null,
  }
}

const STATE_TEXT: Record<State, string> = {
  running: 'running',
  starting: 'starting (not mounted yet)',
  stale: 'stale: mounted, but no daemon serves it (run `nsfs umount` or `nsfs mount` again)',
  'not-running': 'not running',
}

export function formatReport (r: StatusReport): string {
  const rows: Array<[string, string]> = [['mountpoint', r.mountpoint], ['state', STATE_TEXT[r.state]]]
  if (r.pid !== null) {
    rows.push(['pid', String(r.pid)], ['uptime', `${r.uptimeSeconds ?? 0} s`], ['namespaces', String(r.namespaces ?? 0)])
    rows.push(['last scan', r.lastScanAt === null ? 'none yet' : `${r.lastScanAt} (${r.lastScanMs ?? 0} ms, ${r.scans ?? 0} scans so far)`])
    rows.push(['rename table', `${r.tableSize ?? 0} entries`], ['log level', r.logLevel ?? ''])
  }
  const width = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}\n`).join('')
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show the daemon serving a mountpoint: pid, uptime, namespaces, last scan',
  usage: `usage: nsfs status [MOUNTPOINT] [--json] [--run-dir DIR]

Shows the daemon serving MOUNTPOINT (default ${DEFAULTS.mountpoint}): its pid, uptime,
namespace count, last scan time and duration and rename table size, as the
daemon last published them (after every scan).

options:
  --json           one JSON object instead of text
  --run-dir DIR    where the daemon's status file is (default ${DEFAULTS.runDir})
  -h, --help       show this text

exit status: 0 when a daemon serves the mountpoint, 1 when none does (or the
mount is stale), 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(statusCommand, argv, {
      json: { type: 'boolean' },
      'run-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one mountpoint' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    const mountpoint = path.resolve(positionals[0] ?? DEFAULTS.mountpoint)
    const s = readStatus(path.resolve(values['run-dir'] ?? DEFAULTS.runDir), mountpoint)
    const mounted = readMountinfo().some(m => m.mountPoint === mountpoint && m.fstype === 'fuse.nsfs')
    const r = report(mountpoint, s, s !== undefined && isAlive(s), mounted, Date.now())
    process.stdout.write(values.json === true ? `${JSON.stringify(r)}\n` : formatReport(r))
    return r.state === 'running' || r.state === 'starting' ? 0 : 1
  },
}
