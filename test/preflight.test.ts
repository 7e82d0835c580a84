import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { checkFuseDevice, checkRoot, prepareMountpoint } from '../src/daemon/preflight.js'
import { parseSeedHex, readSecret, seedOf } from '../src/daemon/seed.js'
import { errnoCodeOf, NsfsError } from '../src/errors.js'
import { makeLogger } from '../src/log.js'

t.test('checkRoot and checkFuseDevice name the cause', async t => {
  t.doesNotThrow(() => checkRoot(0))
  t.throws(() => checkRoot(1000), { code: 'EPERM', message: /must run as root .*uid 1000/ })
  t.throws(() => checkFuseDevice('/nonexistent/fuse'), { code: 'ENODEV', message: /FUSE device.*: \/nonexistent\/fuse$/ })
})

t.test('prepareMountpoint creates a missing directory and refuses a file', async t => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-pre-'))
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }))
  const log = makeLogger('error', () => {})
  const mp = prepareMountpoint(path.join(base, 'a/b'), log)
  t.equal(mp, path.join(base, 'a/b'))
  t.ok(fs.statSync(mp).isDirectory())
  fs.writeFileSync(path.join(base, 'f'), '')
  t.throws(() => prepareMountpoint(path.join(base, 'f'), log), { code: 'ENOTDIR' })
  t.throws(() => prepareMountpoint('/proc', log), { code: 'EBUSY', message: /busy: proc from proc is mounted there: \/proc$/ })
})

t.test('seeds', async t => {
  t.same([...parseSeedHex('00ff')], [0, 255])
  t.throws(() => parseSeedHex('abc'), { code: 'EINVAL', message: /'abc'/ })
  t.throws(() => parseSeedHex(''), { code: 'EINVAL' })
  const boot = '34095884-4851-434b-8363-bac708f9d73c'
  const dir = t.testdir({})
  const secret = readSecret(dir)
  t.equal(fs.statSync(`${dir}/seed.key`).mode & 0o777, 0o600, 'the secret is root\'s only')
  t.same(readSecret(dir), secret, 'made once, then kept')
  t.same(seedOf(secret, boot), seedOf(readSecret(dir), boot), 'one seed per boot and secret')
  t.notSame(seedOf(secret, boot), seedOf(secret, '34095884-4851-434b-8363-bac708f9d73d'), 'another after a reboot')
  t.notSame(seedOf(secret, boot), seedOf(readSecret(t.testdir({})), boot), 'another under another secret')
  t.throws(() => seedOf(secret, 'nope'), { code: 'EINVAL' })
  fs.writeFileSync(`${dir}/seed.key`, 'short')
  t.throws(() => readSecret(dir), { code: 'EIO', message: /holds 5 bytes/ })
})

t.test('errors and the logger', async t => {
  const e = new NsfsError('EXDEV', 'cannot move across user namespaces', { path: '/a', syscall: 'rename', cause: new Error('x') })
  t.equal(e.message, 'cannot move across user namespaces: /a')
  t.equal(e.errno, 18)
  t.equal(e.syscall, 'rename')
  t.equal(errnoCodeOf(e), 'EXDEV')
  t.equal(errnoCodeOf(Object.assign(new Error(), { code: 'EACCES' })), 'EACCES')
  t.equal(errnoCodeOf(Object.assign(new Error(), { code: 'ERR_WHATEVER' })), 'EIO')
  t.equal(errnoCodeOf(null), 'EIO')
  const lines: string[] = []
  const log = makeLogger('warn', l => lines.push(l))
  log('info', 'hidden')
  log('warn', 'two\nlines')
  t.same(lines, ['nsfs: warn: two | lines\n'])
})
