// One line per event on stderr, so the journal keeps them apart.
export const LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type Level = (typeof LEVELS)[number]
export type Logger = (level: Level, msg: string) => void

export function makeLogger (max: Level, write: (line: string) => void = line => process.stderr.write(line)): Logger {
  const limit = LEVELS.indexOf(max)
  return (level, msg) => {
    if (LEVELS.indexOf(level) > limit) return
    write(`nsfs: ${level}: ${msg.replace(/\n/g, ' | ')}\n`)
  }
}
