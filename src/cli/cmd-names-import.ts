// `nsfs names import FILE --pid PID`: puts the names of an export back on
// the namespaces that play the same roles for a restored container, through
// the daemon serving the tree (which checks and records them as renames).
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { DEFAULTS } from '../daemon/settings.js'
import { runFiles } from '../daemon/status.js'
import type { ImportAnswer, SocketRequest } from '../daemon/watch-protocol.js'
import { nsfsMountpoints } from '../kernel/mountinfo.js'
import { ContainerProcesses } from '../kernel/container-processes.js'
import type { ImportRequest } from '../model/import-plan.js'
import { parseExport, type NamesExport } from '../model/names-export.js'
import { badNameReason } from '../model/name-rules.js'
import { parseCommandLine, usageError, type Command } from './command.js'

// A restored container's namespaces reach the tree at the daemon's next
// event or sweep: this long is waited for them.
const WAIT_MS = 5000

export const namesImportCommand: Command = {
  name: 'names import',
  summary: 'give a restored container the names an export recorded',
  usage: `usage: nsfs names import FILE --pid PID [--as NAME] [--mount DIR]

Reads FILE (written by \`nsfs names export\`; - for stdin), finds each of its
namespaces by the role it played among the container's processes, now the
restored container whose init is PID (as the host sees it), and gives each
the name and place it had: the top directory's name, renamed entries and
default names alike. All or nothing: a name taken where it would go (the same
dump restored twice) refuses the whole import and changes nothing; --as gives
the top directory another name. Imported names are kept like any mv.
Prints where each namespace shows.

options:
  --pid PID        the restored container's init, as the host sees it
  --as NAME        the top directory's name instead of the exported one
  --mount DIR      the mounted tree to name through (default ${DEFAULTS.mountpoint})
  --run-dir DIR    where its daemon keeps its socket (default ${DEFAULTS.runDir})
  -h, --help       show this text

exit status: 0 when every name was given, 1 when none was (a file that is
truncated, foreign or of a newer version; a role nothing plays; a name
taken; no daemon), 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(namesImportCommand, argv, {
      pid: { type: 'string' },
      as: { type: 'string' },
      mount: { type: 'string' },
      'run-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one file' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    const file = positionals[0]
    if (file === undefined) return usageError(namesImportCommand, 'which file? (nsfs names import FILE --pid PID)')
    const init = Number(values.pid)
    if (values.pid === undefined || !(Number.isSafeInteger(init) && init > 0)) return usageError(namesImportCommand, '--pid wants the restored container\'s init (a process id)')
    const as = values.as
    const why = as === undefined ? undefined : badNameReason(as)
    if (why !== undefined) return usageError(namesImportCommand, `--as: ${why}`)
    const mp = path.resolve(values.mount ?? DEFAULTS.mountpoint)
    const fail = (msg: string): number => { process.stderr.write(`nsfs: ${msg}\n`); return 1 }

    let doc: NamesExport
    try {
      doc = parseExport(fs.readFileSync(file === '-' ? 0 : file, 'utf8'))
    } catch (err) {
      return fail(`${file}: ${(err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err))}`)
    }
    if (!nsfsMountpoints().includes(mp)) return fail(`no nsfs tree is mounted at ${mp}`)
    let req: ImportRequest
    try {
      const c = new ContainerProcesses(init, DEFAULTS.procRoot)
      const entries = []
      for (const n of doc.namespaces) {
        if (n.locator === null) {
          process.stderr.write(`nsfs: note: ${n.path} had no role among the container's processes; not named\n`)
          continue
        }
        entries.push({ key: c.resolve(n.locator), path: n.path })
      }
      req = { top: { key: c.resolve(doc.top.locator), name: as ?? doc.top.name }, entries }
    } catch (err) {
      return fail(`cannot import ${file} for pid ${init}: ${err instanceof Error ? err.message : String(err)}`)
    }
    const socket = runFiles(values['run-dir'] ?? DEFAULTS.runDir, mp).events
    const deadline = Date.now() + WAIT_MS
    for (;;) {
      let a: ImportAnswer
      try {
        a = await ask(socket, { kind: 'import', request: req })
      } catch (err) {
        return fail(`cannot reach the daemon serving ${mp} (${socket}: ${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      }
      if (a.ok) {
        for (const p of a.paths) process.stdout.write(`${mp}${p}\n`)
        return 0
      }
      // Not in the tree yet: the daemon has not seen the restore.
      if (a.code !== 'ENOENT' || Date.now() >= deadline) return fail(`import refused, nothing changed: ${a.error}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  },
}

// One request, one answer line.
function ask (socketPath: string, req: SocketRequest): Promise<ImportAnswer> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const socket = net.connect(socketPath)
    socket.on('connect', () => socket.write(`${JSON.stringify(req)}\n`))
    socket.on('error', reject)
    socket.on('data', chunk => {
      buf += chunk.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      socket.destroy()
      resolve(JSON.parse(buf.slice(0, nl)) as ImportAnswer)
    })
    socket.on('end', () => reject(new Error('the daemon closed the connection')))
  })
}
