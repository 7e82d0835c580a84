// `nsfs names export DIR`: the names of a container's directory of the
// tree, by the roles its namespaces play for the container's processes, for
// `nsfs names import` to put back after a checkpoint/restore.
import fs from 'node:fs'
import path from 'node:path'
import { DEFAULTS } from '../daemon/settings.js'
import { nsfsMountpoints } from '../kernel/mountinfo.js'
import { ContainerProcesses } from '../kernel/container-processes.js'
import { readNspid } from '../kernel/procfs.js'
import { buildExport, describeLocator, formatExport, initCandidates } from '../model/names-export.js'
import { readMounted, toTreePath } from './cmd-ls.js'
import { parseCommandLine, usageError, type Command } from './command.js'

export const namesExportCommand: Command = {
  name: 'names export',
  summary: 'write the names under a directory of the tree, for a restore',
  usage: `usage: nsfs names export DIR [-o FILE] [--pid PID]

Writes a document of every namespace under DIR, a container's user namespace
directory in a mounted nsfs tree (e.g. ${DEFAULTS.mountpoint}/web): its path
below DIR, default names included, and the role it plays for the container's
processes, in the container's own pid numbers ("net of pid 1", "the owner of
uts of pid 7"), which a restore brings back. Namespaces the container shares
with the host are listed as external: they are not restored with it.
A namespace that no process of the container reaches gets a warning and no
locator; it keeps its default name after a restore.
Call it after a checkpoint's dump; \`nsfs names import\` after the restore.

options:
  -o, --output FILE  write there (atomically, mode 0600) instead of stdout
  --pid PID          the container's init, as the host sees it (default: the
                     process that is pid 1 of the pid namespace at the top
                     of DIR)
  -h, --help         show this text

exit status: 0 on success, 1 on any error (DIR not a directory of the tree, no
init found), 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(namesExportCommand, argv, {
      output: { type: 'string', short: 'o' },
      pid: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one directory' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    const arg = positionals[0]
    if (arg === undefined) return usageError(namesExportCommand, 'which directory? (nsfs names export DIR)')
    const init = values.pid === undefined ? undefined : Number(values.pid)
    if (init !== undefined && !(Number.isSafeInteger(init) && init > 0)) return usageError(namesExportCommand, `--pid wants a process id, not '${values.pid ?? ''}'`)
    const dir = path.resolve(arg)
    const mp = nsfsMountpoints().find(m => dir === m || dir.startsWith(m === '/' ? m : `${m}/`))
    if (mp === undefined) return usageError(namesExportCommand, `${dir} is not in a mounted nsfs tree`)
    const treePath = toTreePath(dir, [mp])
    let result
    try {
      const records = readMounted(mp)
      const pid1 = init ?? findInit(initCandidates(records, treePath))
      result = buildExport({ dir: treePath, records, processes: new ContainerProcesses(pid1, DEFAULTS.procRoot).list() })
    } catch (err) {
      process.stderr.write(`nsfs: cannot export ${dir}: ${err instanceof Error ? err.message : String(err)}\n`)
      return 1
    }
    for (const p of result.unlocated) process.stderr.write(`nsfs: warning: ${path.join(dir, p)}: no process of the container reaches it; it will keep its default name after a restore\n`)
    for (const e of result.doc.external) process.stderr.write(`nsfs: note: ${e.type} is shared with the host (${describeLocator(e.locator)}, ${e.path ?? 'no entry'}): not restored, not named\n`)
    const text = formatExport(result.doc)
    const out = values.output
    if (out === undefined || out === '-') {
      process.stdout.write(text)
      return 0
    }
    const tmp = `${out}.${process.pid}.tmp`
    try {
      fs.writeFileSync(tmp, text, { mode: 0o600 })
      fs.renameSync(tmp, out)
    } catch (err) {
      fs.rmSync(tmp, { force: true })
      process.stderr.write(`nsfs: cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`)
      return 1
    }
    process.stderr.write(`nsfs: exported ${result.doc.namespaces.length + 1} namespaces of ${dir} to ${out}\n`)
    return 0
  },
}

// The candidate that is pid 1 of its pid namespace.
function findInit (candidates: readonly number[]): number {
  const init = candidates.find(pid => readNspid(DEFAULTS.procRoot, pid)?.at(-1) === 1)
  if (init === undefined) throw new Error('no process is pid 1 of the container\'s pid namespace: say which is its init with --pid')
  return init
}
