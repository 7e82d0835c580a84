// `nsfs watch [PATH]`: one line per namespace that appears, dies, is renamed
// or changes holders under PATH, as the daemon serving that tree sees it
// happen, until interrupted. The daemon tells each caller only what it may
// see in the mount.
import net from 'node:net'
import path from 'node:path'
import { DEFAULTS } from '../daemon/settings.js'
import { runFiles } from '../daemon/status.js'
import { formatRecord, type WatchAnswer, type WatchRecord } from '../daemon/watch-protocol.js'
import { nsfsMountpoints } from '../kernel/mountinfo.js'
import { parseCommandLine, usageError, type Command } from './command.js'

export const watchCommand: Command = {
  name: 'watch',
  summary: 'print namespaces as they appear, die, are renamed or change holders',
  usage: `usage: nsfs watch [PATH] [OPTIONS]

Prints one line per namespace that appears, dies, is renamed or changes
holders at or under PATH, a directory of a mounted nsfs tree (default
${DEFAULTS.mountpoint}), as it happens, until Ctrl-C:
  appeared TYPE PATH HOLDER...      died TYPE PATH
  renamed TYPE OLD -> NEW           holders TYPE PATH HOLDER...|-
Only what the caller may see in the mount is shown, with holder paths it can
open. A renamed user namespace reports its directory, not each entry below.

options:
  --json           one JSON object per line: event, time (ms since the
                   epoch), type, key, path, from (renamed), holders
  --run-dir DIR    where the daemon keeps its socket (default ${DEFAULTS.runDir})
  -h, --help       show this text

exit status: 0 when interrupted, 1 when no daemon serves the tree or it
stops, 2 on bad usage (PATH outside a mounted tree, a bad option).
`,
  run: async argv => {
    const line = parseCommandLine(watchCommand, argv, {
      json: { type: 'boolean' },
      'run-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one path' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    const arg = path.resolve(positionals[0] ?? DEFAULTS.mountpoint)
    const mp = nsfsMountpoints().find(m => arg === m || arg.startsWith(m === '/' ? m : `${m}/`))
    if (mp === undefined) return usageError(watchCommand, `${arg} is not in a mounted nsfs tree`)
    const treePath = `/${arg.slice(mp.length).split('/').filter(s => s !== '').join('/')}`
    return await watch(runFiles(values['run-dir'] ?? DEFAULTS.runDir, mp).events, mp, treePath, values.json === true)
  },
}

function watch (socketPath: string, mp: string, treePath: string, json: boolean): Promise<number> {
  return new Promise(resolve => {
    let answered = false
    let buf = ''
    const socket = net.connect(socketPath)
    const done = (code: number, msg?: string): void => {
      if (msg !== undefined) process.stderr.write(`nsfs: ${msg}\n`)
      process.off('SIGINT', interrupted)
      process.off('SIGTERM', interrupted)
      socket.destroy()
      resolve(code)
    }
    const interrupted = (): void => done(0)
    process.on('SIGINT', interrupted)
    process.on('SIGTERM', interrupted)
    socket.on('connect', () => socket.write(`${JSON.stringify({ kind: 'watch', path: treePath })}\n`))
    socket.on('error', (err: NodeJS.ErrnoException) => done(1, `cannot reach the daemon serving ${mp} (${socketPath}: ${err.code ?? err.message})`))
    socket.on('end', () => done(1, answered ? `the daemon serving ${mp} stopped` : `the daemon serving ${mp} closed the connection`))
    socket.on('data', chunk => {
      buf += chunk.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (!answered) {
          const a = JSON.parse(text) as WatchAnswer
          if (!a.ok) { done(2, `watch: ${a.error}`); return }
          answered = true
          continue
        }
        process.stdout.write(json ? `${text}\n` : `${formatRecord(JSON.parse(text) as WatchRecord)}\n`)
      }
    })
  })
}
