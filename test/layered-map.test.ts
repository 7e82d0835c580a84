import t from 'tap'
import { LayeredMap } from '../src/model/layered-map.js'

t.test('versions agree with a Map changed the same way, and leave their base alone', async t => {
  let s = 7
  const rand = (n: number): number => { s = (s * 1103515245 + 12345) % 2147483648; return Math.floor(s / 2147483648 * n) }
  let ref = new Map<number, string>()
  for (let i = 0; i < 1000; i++) ref.set(i, `v${i}`)
  let layered: ReadonlyMap<number, string> = new Map(ref)
  let folded = 0
  for (let step = 0; step < 200; step++) {
    const before = [...layered]
    const set: Array<[number, string]> = []
    const removed: number[] = []
    for (let i = rand(6); i > 0; i--) removed.push(rand(1200))
    for (let i = rand(6); i > 0; i--) set.push([rand(1200), `s${step}`])
    const prev = layered
    layered = LayeredMap.with(layered, set, removed)
    if (!(layered instanceof LayeredMap)) folded++
    ref = new Map(ref)
    for (const k of removed) ref.delete(k)
    for (const [k, v] of set) ref.set(k, v)
    t.same([...prev], before, `step ${step}: the base is unchanged`)
    if (!t.same(new Map(layered), ref, `step ${step}: same content`)) break
    t.equal(layered.size, ref.size)
    for (const k of [...removed, ...set.map(([k]) => k), rand(1200)]) {
      t.equal(layered.get(k), ref.get(k))
      t.equal(layered.has(k), ref.has(k))
    }
  }
  t.ok(folded > 0, 'changes are folded into a new base now and then')
  const seen: number[] = []
  layered.forEach((_, k) => seen.push(k))
  t.same(seen, [...layered.keys()])
  t.same([...layered.values()], [...layered].map(([, v]) => v))
})

t.test('order: the base order with values changed in place, then new keys', async t => {
  const base = new Map([['a', 1], ['b', 2], ['c', 3]])
  const next = LayeredMap.with(base, [['b', 20], ['d', 4]], ['a'])
  t.same([...next], [['b', 20], ['c', 3], ['d', 4]])
  const seen: Array<[string, number]> = []
  next.forEach((v, k) => seen.push([k, v]))
  t.same(seen, [...next])
  t.same([...LayeredMap.with(next, [['a', 10]], ['d'])], [['a', 10], ['b', 20], ['c', 3]], 'a removed key set again takes its old place')
})
