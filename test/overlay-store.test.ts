// The state file in a temp directory: round trip, another boot, a file that
// is corrupt or unreadable, a crash that left a temp file, a failing save.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NsfsError } from '../src/errors.js'
import type { NsKey } from '../src/model/namespace.js'
import type { NameEntry, Overlay } from '../src/model/overlay.js'
import { formatOverlayFile, LOCK_FILE, OverlayStore, parseOverlayFile, readOverlayFile, STATE_FILE } from '../src/store/overlay-store.js'

const BOOT = '34095884-4851-434b-8363-bac708f9d73c'

function dir (t: { teardown: (fn: () => void) => void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-store-'))
  t.teardown(() => { fs.chmodSync(d, 0o755); fs.rmSync(d, { recursive: true, force: true }) })
  return d
}

function table (...entries: Array<[string, NsKey, string]>): Overlay {
  return new Map(entries.map(([name, key, p]) => [key, { key, type: key.split(':')[0], name, dir: 'user:1', path: p } as NameEntry]))
}

function logger (): { log: (level: string, msg: string) => void, lines: string[] } {
  const lines: string[] = []
  return { log: (level, msg) => { lines.push(`${level}: ${msg}`) }, lines }
}

t.test('save then load gives the same table', async t => {
  const d = dir(t)
  const { log } = logger()
  const store = new OverlayStore(path.join(d, 'state'), BOOT, log)
  t.same(store.load(), new Map(), 'no file: empty, and the directory is made')
  store.close()
  t.ok(fs.statSync(path.join(d, 'state')).isDirectory())
  const names = table(['web', 'net:10', '/web'], ['db', 'ipc:11', '/tenant/db'], ['tenant', 'user:12', '/tenant'])
  store.save(names)
  t.same(new OverlayStore(path.join(d, 'state'), BOOT, log).load(), names)
  t.same(fs.readdirSync(path.join(d, 'state')).sort(), [LOCK_FILE, STATE_FILE].sort(), 'no temp file left')
  t.equal(fs.statSync(store.file).mode & 0o777, 0o600, 'for root alone')
  t.equal(fs.statSync(path.join(d, 'state')).mode & 0o777, 0o700)
  const doc = JSON.parse(fs.readFileSync(store.file, 'utf8'))
  t.match(doc, { format: 'nsfs-names', version: 1, bootId: BOOT, names: [{ name: 'web', type: 'net', key: 'net:10', dir: 'user:1', path: '/web' }] })
  store.save(new Map())
  t.same(readOverlayFile(store.file)?.names, new Map(), 'an empty table is saved too')
})

t.test('a table of another boot is dropped at load', async t => {
  const d = dir(t)
  const { log, lines } = logger()
  new OverlayStore(d, 'another-boot', log).save(table(['web', 'net:10', '/web']))
  t.same(new OverlayStore(d, BOOT, log).load(), new Map())
  t.match(lines.join('\n'), /dropped 1 names of another boot/)
  t.ok(fs.existsSync(path.join(d, STATE_FILE)), 'kept until the next save replaces it')
})

t.test('a corrupt or unreadable file is moved aside, never overwritten', async t => {
  const bad: Array<[string, string | null]> = [
    ['truncated JSON', '{"format": "nsfs-names", "vers'],
    ['not an object', '[]'],
    ['wrong format', JSON.stringify({ format: 'other', version: 1, bootId: BOOT, names: [] })],
    ['no names', JSON.stringify({ format: 'nsfs-names', version: 1, bootId: BOOT })],
    ['bad entry', JSON.stringify({ format: 'nsfs-names', version: 1, bootId: BOOT, names: [{ name: 'x', type: 'net', key: 'ipc:1', dir: 'user:1', path: '/x' }] })],
    ['reserved name', JSON.stringify({ format: 'nsfs-names', version: 1, bootId: BOOT, names: [{ name: 'net-0123456789ab', type: 'net', key: 'net:1', dir: 'user:1', path: '/x' }] })],
    ['twice the same key', JSON.stringify({ format: 'nsfs-names', version: 1, bootId: BOOT, names: [{ name: 'a', type: 'net', key: 'net:1', dir: 'user:1', path: '/a' }, { name: 'b', type: 'net', key: 'net:1', dir: 'user:1', path: '/b' }] })],
    ['a directory', null],
  ]
  for (const [what, text] of bad) {
    const d = dir(t)
    const file = path.join(d, STATE_FILE)
    if (text === null) fs.mkdirSync(file)
    else fs.writeFileSync(file, text)
    const { log, lines } = logger()
    const store = new OverlayStore(d, BOOT, log)
    t.same(store.load(), new Map(), `${what}: empty table`)
    const aside = fs.readdirSync(d).filter(n => n.startsWith(`${STATE_FILE}.corrupt-`))
    t.equal(aside.length, 1, `${what}: moved aside`)
    t.notOk(fs.existsSync(file), `${what}: nothing left in its place`)
    if (text !== null) t.equal(fs.readFileSync(path.join(d, aside[0] as string), 'utf8'), text, `${what}: kept as it was`)
    t.equal(lines.length, 1, `${what}: one log line`)
    t.match(lines[0], new RegExp(`^error: state file ${file} is unreadable \\(.+\\); moved it aside to ${path.join(d, aside[0] as string)}; starting with an empty name table$`), `${what}: names both paths`)
    store.save(table(['web', 'net:10', '/web']))
    t.equal(fs.readdirSync(d).filter(n => n !== LOCK_FILE).length, 2, `${what}: the new table is written beside the old one`)
  }
})

t.test('a second corrupt file gets its own name', async t => {
  const d = dir(t)
  const { log } = logger()
  for (let i = 0; i < 2; i++) {
    fs.writeFileSync(path.join(d, STATE_FILE), `garbage ${i}`)
    const store = new OverlayStore(d, BOOT, log)
    store.load()
    store.close()
  }
  t.equal(fs.readdirSync(d).filter(n => n.includes('.corrupt-')).length, 2)
})

t.test('a temp file left by a crash is ignored and removed', async t => {
  const d = dir(t)
  const { log } = logger()
  const store = new OverlayStore(d, BOOT, log)
  store.save(table(['web', 'net:10', '/web']))
  fs.writeFileSync(`${store.file}.tmp`, '{"half a')
  t.same([...store.load().keys()], ['net:10'])
  t.notOk(fs.existsSync(`${store.file}.tmp`))
})

t.test('a save that fails throws EIO and leaves the old table', async t => {
  const d = dir(t)
  const store = new OverlayStore(d, BOOT, logger().log)
  store.save(table(['web', 'net:10', '/web']))
  // Even root cannot open a directory for writing.
  fs.mkdirSync(`${store.file}.tmp`)
  t.throws(() => store.save(new Map()), { code: 'EIO' })
  t.same([...(readOverlayFile(store.file)?.names.keys() ?? [])], ['net:10'])
})

t.test('a save into a state directory that is gone throws EIO', async t => {
  const d = dir(t)
  const store = new OverlayStore(path.join(d, 'gone'), BOOT, logger().log)
  try {
    store.save(new Map())
    t.fail('expected EIO')
  } catch (err) {
    t.ok(err instanceof NsfsError)
    t.equal((err as NsfsError).code, 'EIO')
    t.match((err as Error).message, /cannot save the name table/)
  }
})

t.test('a state directory that cannot be made fails the load', async t => {
  const d = dir(t)
  fs.writeFileSync(path.join(d, 'file'), '')
  t.throws(() => new OverlayStore(path.join(d, 'file', 'state'), BOOT, logger().log).load(), { code: 'EIO', message: /cannot create the state directory/ })
})

t.test('one state directory, one daemon', async t => {
  const d = dir(t)
  const first = new OverlayStore(d, BOOT, logger().log)
  first.load()
  // flock belongs to the open file: a second open conflicts even in this process.
  t.throws(() => new OverlayStore(d, BOOT, logger().log).load(), { code: 'EBUSY', message: /in use by another nsfs daemon/ })
  first.close()
  first.close()
  const second = new OverlayStore(d, BOOT, logger().log)
  t.same(second.load(), new Map(), 'free again once closed')
  second.close()
})

t.test('parse and format are inverse', async t => {
  const names = table(['web', 'net:10', '/web'], ['tenant', 'user:12', '/tenant'])
  t.same(parseOverlayFile(formatOverlayFile({ bootId: BOOT, names })), { bootId: BOOT, names })
  t.throws(() => parseOverlayFile('null'), /not a JSON object/)
  t.equal(readOverlayFile('/nonexistent/names.json'), undefined)
})
