import t from 'tap'
import { cpuShare, fmt, holds, median, parseCpuTicks, percentile, ratio, table } from '../scripts/lib/bench-stats.mjs'

t.test('median of odd and even counts, unsorted input left alone', async t => {
  const xs = [5, 1, 3]
  t.equal(median(xs), 3)
  t.same(xs, [5, 1, 3])
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.equal(median([7]), 7)
  t.throws(() => median([]), RangeError)
})

t.test('ratio and targets', async t => {
  t.equal(ratio(1, 4), 0.25)
  t.equal(ratio(1, 0), undefined)
  t.equal(ratio(undefined, 2), undefined)
  t.equal(holds({ limit: 0.5, value: 0.5 }), true)
  t.equal(holds({ limit: 0.5, value: 0.51 }), false)
  t.equal(holds({ limit: 0.5, value: undefined }), undefined)
})

t.test('fmt keeps about three significant digits', async t => {
  t.equal(fmt(undefined), '-')
  t.equal(fmt(Infinity), '-')
  t.equal(fmt(0.01234), '0.012')
  t.equal(fmt(1.234, 's'), '1.23 s')
  t.equal(fmt(12.34), '12.3')
  t.equal(fmt(123.4), '123')
})

t.test('table pads columns', async t => {
  t.equal(table(['a', 'bb'], [['ccc', 'd']]), '| a   | bb |\n|-----|----|\n| ccc | d  |')
})

t.test('cpu share from /proc/PID/stat', async t => {
  const stat = '123 (a (b) c) S 1 2 3 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 3 0 1000 0 0'
  t.equal(parseCpuTicks(stat), 300)
  t.equal(cpuShare(100, 150, 2), 0.25)
  t.throws(() => cpuShare(0, 1, 0), RangeError)
})

t.test('percentiles interpolate between closest ranks', async t => {
  const xs = [10, 1, 5, 3, 8]
  t.equal(percentile(xs, 0), 1)
  t.equal(percentile(xs, 100), 10)
  t.equal(percentile(xs, 50), 5)
  t.equal(percentile([1, 2, 3, 4], 75), 3.25)
  t.throws(() => percentile([1], 101), RangeError)
  t.throws(() => percentile([], 50), RangeError)
})
