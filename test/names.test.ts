import t from 'tap'
import { defaultName, HashBook, nameDirectory, nameHash } from '../src/model/names.js'
import { isReservedName } from '../src/model/name-rules.js'
import { nsKey, type NsIdentity } from '../src/model/namespace.js'

const seed = Buffer.from('00ff', 'hex')
const net7: NsIdentity = { type: 'net', id: '7', dev: 4, ino: 4026531840 }

t.test('hashes are deterministic, seed- and type-dependent, and hide the inode', async t => {
  const h = nameHash(seed, net7)
  t.match(h, /^[0-9a-f]{64}$/)
  t.equal(nameHash(seed, net7), h, 'same input, same hash')
  t.not(nameHash(Buffer.from('00fe', 'hex'), net7), h, 'another seed')
  t.not(nameHash(seed, { ...net7, type: 'uts' }), h, 'another type')
  t.not(nameHash(seed, { ...net7, id: '8' }), h, 'another id')
  t.equal(nameHash(seed, { ...net7, ino: 1 }), h, 'with an id, the inode plays no part')
  t.not(nameHash(seed, { ...net7, id: null }), nameHash(seed, { ...net7, id: null, ino: 1 }), 'without one, dev:ino is the identity')
  const name = defaultName('net', h)
  t.match(name, /^net-[0-9a-f]{12}$/)
  t.notMatch(name, /4026531840|3b9ac|f0000000/, 'no inode in the name')
})

t.test('every form a default name takes is reserved from chosen names', async t => {
  const h = nameHash(seed, net7)
  for (const digits of [12, 16, 24, 64]) t.ok(isReservedName(defaultName('net', h, digits)), `${digits} hex digits`)
  t.ok(isReservedName(`${defaultName('net', h, 64)}-2`), 'the tail of a twice-colliding hash')
  t.notOk(isReservedName('net-0123456789AB'), 'upper case is free')
  t.notOk(isReservedName('foo-0123456789ab'), 'not a type')
  t.notOk(isReservedName('web'))
})

t.test('a directory with a colliding short name', async t => {
  const a: NsIdentity = { type: 'net', id: '10', dev: 4, ino: 1 }
  const b: NsIdentity = { type: 'net', id: '3', dev: 4, ino: 2 }
  const c: NsIdentity = { type: 'uts', id: '11', dev: 4, ino: 3 }
  // a and b share their first 12 digits but not 16.
  const hashes = new Map([[a, 'aaaaaaaaaaaa1111' + '0'.repeat(48)], [b, 'aaaaaaaaaaaa2222' + '0'.repeat(48)], [c, 'c'.repeat(64)]])
  const named = nameDirectory([a, b, c], ns => hashes.get(ns) as string)
  t.same([...named.keys()].sort(), ['net-aaaaaaaaaaaa', 'net-aaaaaaaaaaaa1111', 'uts-cccccccccccc'].sort())
  t.equal(named.get('net-aaaaaaaaaaaa'), b, 'the older id keeps the short name')
  t.equal(named.get('net-aaaaaaaaaaaa1111'), a)
  const again = nameDirectory([b, c, a], ns => hashes.get(ns) as string)
  t.same([...again.entries()], [...named.entries()], 'order of discovery does not matter')
})

t.test('collisions without ids and on every prefix', async t => {
  const a: NsIdentity = { type: 'ipc', id: null, dev: 4, ino: 9 }
  const b: NsIdentity = { type: 'ipc', id: null, dev: 4, ino: 5 }
  const same = 'f'.repeat(64)
  const named = nameDirectory([a, b], () => same)
  t.equal(named.get('ipc-ffffffffffff'), b, 'lower inode first without ids')
  t.equal(named.get('ipc-ffffffffffffffff'), a)
  const many = [1, 2, 3, 4, 5].map(i => ({ type: 'ipc', id: String(i), dev: 4, ino: i }) satisfies NsIdentity)
  const all = nameDirectory(many, () => same)
  t.equal(all.size, 5, 'every namespace keeps an entry')
})

t.test('HashBook memoises and forgets', async t => {
  const book = new HashBook(seed)
  const key = nsKey(net7)
  t.equal(book.hashOf(key, net7), nameHash(seed, net7))
  t.equal(book.hashOf(key, { ...net7, id: '99' }), nameHash(seed, net7), 'memoised by key')
  book.retain(new Set())
  t.equal(book.hashOf(key, { ...net7, id: '99' }), nameHash(seed, { ...net7, id: '99' }), 'forgotten when not live')
})
