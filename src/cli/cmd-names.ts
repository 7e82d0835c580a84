// `nsfs names [--json]`: the table of renamed namespaces, read from the
// state file (always current: a rename is saved before it is answered), so
// it works whether or not the daemon runs. `nsfs names export|import` carry
// names across a checkpoint/restore.
import path from 'node:path'
import { readBootId } from '../kernel/procfs.js'
import { DEFAULTS } from '../daemon/settings.js'
import { readOverlayFile, STATE_FILE } from '../store/overlay-store.js'
import { namesExportCommand } from './cmd-names-export.js'
import { namesImportCommand } from './cmd-names-import.js'
import { parseCommandLine, type Command } from './command.js'

export const namesCommand: Command = {
  name: 'names',
  summary: 'list the namespaces renamed with mv; export and import them across a restore',
  usage: `usage: nsfs names [--json] [--state-dir DIR]
       nsfs names export DIR [-o FILE] [--pid PID]
       nsfs names import FILE --pid PID [--as NAME] [--mount DIR]

Lists the namespaces given a name with mv or import: name, type, identity (the key the
table is indexed by: type and NS_GET_ID, or type, device and inode) and the
directory that shows it, as a path from the mount root. Reads DIR/${STATE_FILE}; names of another boot are
not listed (the daemon drops them when it starts).

\`export\` writes the names under a container's directory by the roles its
namespaces play for its processes; \`import\` gives them back to the same
roles of a restored container (see \`nsfs names export --help\` and
\`nsfs names import --help\`).

options:
  --json               one JSON array instead of a table
  --state-dir DIR      the daemon's state directory (default ${DEFAULTS.stateDir})
  -h, --help           show this text

exit status: 0 on success (also with no names), 1 when the file cannot be read, 2 on bad usage.
`,
  run: async argv => {
    if (argv[0] === 'export') return await namesExportCommand.run(argv.slice(1))
    if (argv[0] === 'import') return await namesImportCommand.run(argv.slice(1))
    const line = parseCommandLine(namesCommand, argv, {
      json: { type: 'boolean' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 0, what: 'no arguments' })
    if ('exit' in line) return line.exit
    const { values } = line
    const file = path.join(path.resolve(values['state-dir'] ?? DEFAULTS.stateDir), STATE_FILE)
    let table
    try {
      table = readOverlayFile(file)
    } catch (err) {
      process.stderr.write(`nsfs: cannot read the name table ${file}: ${err instanceof Error ? err.message : String(err)}\n`)
      return 1
    }
    const rows = table !== undefined && table.bootId === readBootId(DEFAULTS.procRoot)
      ? [...table.names.values()].sort((a, b) => a.path.localeCompare(b.path))
      : []
    if (values.json === true) {
      const out = rows.map(e => ({ name: e.name, type: e.type, identity: e.key, directory: dirOf(e.path), path: e.path, dirKey: e.dir }))
      process.stdout.write(JSON.stringify(out, null, 2) + '\n')
      return 0
    }
    if (rows.length === 0) return 0
    const lines = [['NAME', 'TYPE', 'IDENTITY', 'DIRECTORY'], ...rows.map(e => [e.name, e.type, e.key, dirOf(e.path)])]
    const widths = [0, 1, 2].map(i => Math.max(...lines.map(l => (l[i] ?? '').length)))
    for (const l of lines) process.stdout.write(l.map((c, i) => i < 3 ? c.padEnd(widths[i] ?? 0) : c).join('  ') + '\n')
    return 0
  },
}

function dirOf (p: string): string {
  const d = path.posix.dirname(p)
  return d === '.' ? '/' : d
}
