// Arithmetic for scripts/bench: medians, ratios, percentiles and the table
// it prints. Pure, so the numbers the README quotes come from tested code
// (test/bench-stats.test.ts; tsc checks the JSDoc types).

/** @param {readonly number[]} xs */
export function median (xs) {
  return percentile(xs, 50)
}

// The p-th percentile by linear interpolation between closest ranks.
/** @param {readonly number[]} xs @param {number} p */
export function percentile (xs, p) {
  if (xs.length === 0) throw new RangeError('percentile of no values')
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not within 0..100`)
  const s = [...xs].sort((a, b) => a - b)
  const at = (s.length - 1) * p / 100
  const lo = Math.floor(at)
  const hi = Math.ceil(at)
  const a = /** @type {number} */ (s[lo])
  const b = /** @type {number} */ (s[hi])
  return a + (b - a) * (at - lo)
}

// a / b, or undefined when b is missing or zero.
/** @param {number | undefined} a @param {number | undefined} b */
export function ratio (a, b) {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b
}

// 'max': the measured value must not exceed `limit`.
/** @param {{ readonly limit: number, readonly value: number | undefined }} t */
export function holds (t) {
  return t.value === undefined ? undefined : t.value <= t.limit
}

// Fixed-point text for a table cell: '-' when missing, fewer decimals for
// larger values.
/** @param {number | undefined} v @param {string} [unit] */
export function fmt (v, unit = '') {
  if (v === undefined || !Number.isFinite(v)) return '-'
  const a = Math.abs(v)
  const text = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3)
  return unit === '' ? text : `${text} ${unit}`
}

// A Markdown table: header row, separator, rows; columns padded to align.
/** @param {readonly string[]} header @param {ReadonlyArray<readonly string[]>} rows */
export function table (header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  /** @param {readonly string[]} cells */
  const line = cells => `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`
  return [line(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

// CPU share of one core from two readings of utime+stime (clock ticks).
/** @param {number} ticksBefore @param {number} ticksAfter @param {number} seconds @param {number} [ticksPerSecond] */
export function cpuShare (ticksBefore, ticksAfter, seconds, ticksPerSecond = 100) {
  if (seconds <= 0) throw new RangeError(`cpuShare over ${seconds} s`)
  return (ticksAfter - ticksBefore) / ticksPerSecond / seconds
}

// utime + stime (fields 14 and 15) from the text of /proc/PID/stat.
/** @param {string} stat */
export function parseCpuTicks (stat) {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}
