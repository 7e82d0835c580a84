// One line per event on stderr, so the journal keeps them apart.
export const LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type Level = (typeof LEVELS)[number]
export type Logger = (level: Level, msg: string) => void

export function isLevel (s: string): s is Level {
  return (LEVELS as readonly string[]).includes(s)
}

// `max` may be a function, so a running daemon can change its level (SIGHUP).
export function makeLogger (max: Level | (() => Level), write: (line: string) => void = line => process.stderr.write(line)): Logger {
  const limit = typeof max === 'function' ? () => LEVELS.indexOf(max()) : () => LEVELS.indexOf(max)
  return (level, msg) => {
    if (LEVELS.indexOf(level) > limit()) return
    write(`nsfs: ${level}: ${msg.replace(/\n/g, ' | ')}\n`)
  }
}
