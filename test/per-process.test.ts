import t from 'tap'
import { PerProcess } from '../src/discover/per-process.js'
import type { Sighting } from '../src/discover/found.js'

t.test('re-reads only the processes asked, forgets the gone', async t => {
  const fdsOf = new Map<number, number[]>([[1, [3]], [2, []], [3, [4, 5]]])
  const reads: number[] = []
  const source = new PerProcess(pid => {
    reads.push(pid)
    return (fdsOf.get(pid) ?? []).map(fd => ({ type: 'net', ino: 100 + fd, holder: { kind: 'fd', pid, fd, start: 1 } }) satisfies Sighting)
  })
  const inos = (): number[] => [...source.sightings()].map(s => s.ino).sort()
  source.update([1, 2, 3], () => true)
  t.same(inos(), [103, 104, 105])
  fdsOf.set(1, [6])
  fdsOf.set(3, [])
  reads.length = 0
  source.update([1], pid => pid !== 2)
  t.same(reads, [1], 'only the re-read process is read')
  t.same(inos(), [104, 105, 106], 'process 3 keeps its last answer until re-read')
  source.update([3], pid => pid === 3)
  t.same(inos(), [], 'process 1 is gone, process 3 closed its fds')
})
