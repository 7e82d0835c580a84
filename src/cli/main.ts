#!/usr/bin/env node
// The `nsfs` command: dispatches to one module per command.
import type { Command } from './command.js'
import { lsCommand } from './cmd-ls.js'
import { mountCommand } from './cmd-mount.js'
import { namesCommand } from './cmd-names.js'
import { statusCommand } from './cmd-status.js'
import { umountCommand } from './cmd-umount.js'
import { watchCommand } from './cmd-watch.js'

const COMMANDS: readonly Command[] = [mountCommand, umountCommand, statusCommand, namesCommand, lsCommand, watchCommand]

function usage (): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length))
  return `usage: nsfs <command> [options]

commands:
${COMMANDS.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}
  ${'help'.padEnd(width)}  show this text, or \`nsfs help COMMAND\` for one command

exit status: 0 on success, 1 on any error, 2 on bad usage.
`
}

async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = COMMANDS.find(c => c.name === rest[0])
    process.stdout.write(topic?.usage ?? usage())
    return 0
  }
  const cmd = COMMANDS.find(c => c.name === name)
  if (cmd === undefined) {
    process.stderr.write(`nsfs: unknown command '${name}'\n${usage()}`)
    return 2
  }
  return await cmd.run(rest)
}

main(process.argv.slice(2)).then(
  code => { process.exitCode = code },
  (err: unknown) => {
    process.stderr.write(`nsfs: error: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
