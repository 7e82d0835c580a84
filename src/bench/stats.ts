// Arithmetic for scripts/bench: medians, ratios and the table it prints.
// Pure, so the numbers the README quotes come from tested code.

export function median (xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no values')
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

// a / b, or undefined when b is missing or zero.
export function ratio (a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b
}

export interface Target {
  // 'max': the measured value must not exceed `limit`.
  readonly limit: number
  readonly value: number | undefined
}

export function holds (t: Target): boolean | undefined {
  return t.value === undefined ? undefined : t.value <= t.limit
}

// Fixed-point text for a table cell: '-' when missing, fewer decimals for
// larger values.
export function fmt (v: number | undefined, unit = ''): string {
  if (v === undefined || !Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  const text = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3)
  return unit === '' ? text : `${text} ${unit}`
}

// A Markdown table: header row, separator, rows; columns padded to align.
export function table (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`
  return [line(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

// CPU share of one core from two readings of utime+stime (clock ticks).
export function cpuShare (ticksBefore: number, ticksAfter: number, seconds: number, ticksPerSecond = 100): number {
  if (seconds <= 0) throw new RangeError(`cpuShare over ${seconds} s`)
  return (ticksAfter - ticksBefore) / ticksPerSecond / seconds
}

// utime + stime (fields 14 and 15) from the text of /proc/PID/stat.
export function parseCpuTicks (stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}
