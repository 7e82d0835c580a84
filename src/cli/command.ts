// What every `nsfs` command provides; main.ts dispatches on the name.
export interface Command {
  readonly name: string
  // One line for `nsfs help`.
  readonly summary: string
  // The full text for `nsfs help NAME` and `nsfs NAME --help`.
  readonly usage: string
  // Resolves with the exit status.
  readonly run: (argv: string[]) => Promise<number>
}

// Exit status 2 with the message and the usage, for bad command lines.
export function usageError (cmd: Pick<Command, 'usage'>, msg: string): number {
  process.stderr.write(`nsfs: ${msg}\n${cmd.usage}`)
  return 2
}
