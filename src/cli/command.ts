// What every `nsfs` command provides; main.ts dispatches on the name.
import { parseArgs, type ParseArgsConfig } from 'node:util'
export interface Command {
  readonly name: string
  // One line for `nsfs help`.
  readonly summary: string
  // The full text for `nsfs help NAME` and `nsfs NAME --help`.
  readonly usage: string
  // Resolves with the exit status.
  readonly run: (argv: string[]) => Promise<number>
}

// Exit status 2 and one line, for bad command lines.
export function usageError (cmd: Pick<Command, 'name'>, msg: string): number {
  process.stderr.write(`nsfs: ${msg} (see \`nsfs ${cmd.name} --help\`)\n`)
  return 2
}

type Options = NonNullable<ParseArgsConfig['options']>
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[], options: O, allowPositionals: true }>>

// Parses `argv` for `cmd`. `--help` and bad usage are answered here, with
// the exit status to return; otherwise the option values and at most
// `max` positionals (`what` names them in the error, e.g. 'one mountpoint').
export function parseCommandLine<O extends Options> (
  cmd: Command, argv: string[], options: O, positionals: { max: number, what: string },
): { exit: number } | Pick<Parsed<O>, 'values' | 'positionals'> {
  let parsed: Parsed<O>
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true })
  } catch (err) {
    return { exit: usageError(cmd, err instanceof Error ? err.message : String(err)) }
  }
  if ((parsed.values as { help?: unknown }).help === true) {
    process.stdout.write(cmd.usage)
    return { exit: 0 }
  }
  if (parsed.positionals.length > positionals.max) {
    return { exit: usageError(cmd, `${cmd.name} takes ${positionals.what}, got: ${parsed.positionals.join(' ')}`) }
  }
  return parsed
}
