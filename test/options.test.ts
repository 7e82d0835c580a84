// Pure parts of running nsfs as a service: mount options, run-file names,
// the status report, FUSE connection numbers. No root needed.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseOptions, readConfig } from '../src/daemon/options.js'
import { escapePath, isAlive, readStatus, runFiles, StatusPublisher, type DaemonStatus } from '../src/daemon/status.js'
import { formatReport, report } from '../src/cli/cmd-status.js'
import { connectionOf } from '../src/kernel/fusectl.js'
import { parseMountinfo } from '../src/kernel/mountinfo.js'
import { makeLogger, type Level } from '../src/log.js'

t.test('mount -o options', async t => {
  t.same(parseOptions(''), {})
  t.same(parseOptions('rw,nosuid,nodev,defaults,_netdev,noauto,x-systemd.requires=a.service,comment=x'), {}, 'generic ones are ignored')
  t.same(parseOptions('rw,seed=00ff,state_dir=/var/lib/x,log_level=debug,interval_ms=500,run_dir=/run/x,config=/etc/c'), {
    seed: '00ff', stateDir: '/var/lib/x', logLevel: 'debug', intervalMs: 500, runDir: '/run/x', config: '/etc/c',
  })
  t.same(parseOptions('# comment\nlog_level=warn   # trailing\n\ninterval_ms=50\n'), { logLevel: 'warn', intervalMs: 50 }, 'config-file form')
  t.throws(() => parseOptions('rw,frobnicate=1'), { code: 'EINVAL', message: /unknown mount option 'frobnicate=1'/ })
  t.throws(() => parseOptions('seed'), { code: 'EINVAL', message: /'seed' needs a value/ })
  t.throws(() => parseOptions('log_level=loud'), { message: /log level must be one of .* got 'loud'/ })
  t.throws(() => parseOptions('interval_ms=5'), { message: /integer >= 10.*'5'/ })
  t.throws(() => parseOptions('interval_ms=1e3'), { message: /'1e3'/ })
})

t.test('config files', async t => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-conf-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const f = path.join(dir, 'nsfs.conf')
  fs.writeFileSync(f, 'log_level=debug\n')
  t.same(readConfig(f), { logLevel: 'debug' })
  fs.writeFileSync(f, 'log_level=debug\nbogus=1\n')
  t.throws(() => readConfig(f), { code: 'EINVAL', message: `unknown mount option 'bogus=1' in the config file: ${f}` })
  t.throws(() => readConfig(path.join(dir, 'missing')), { code: 'ENOENT', message: /cannot read the config file/ })
})

t.test('run files are named like systemd mount units', async t => {
  t.equal(escapePath('/run/nsfs'), 'run-nsfs')
  t.equal(escapePath('/'), '-')
  t.equal(escapePath('/tmp/nsfs-test-x/'), 'tmp-nsfs\\x2dtest\\x2dx')
  t.equal(escapePath('/a b/.c/d.e'), 'a\\x20b-.c-d.e', 'as systemd-escape --path')
  t.equal(escapePath('/.c/d'), '\\x2ec-d')
  t.same(runFiles('/run/nsfs.d', '/run/nsfs'), { status: '/run/nsfs.d/run-nsfs.json', pid: '/run/nsfs.d/run-nsfs.pid', events: '/run/nsfs.d/run-nsfs.sock' })
})

const STATUS: DaemonStatus = {
  mountpoint: '/run/nsfs',
  pid: process.pid,
  pidStart: 0,
  startedAt: 1_000_000,
  mounted: true,
  namespaces: 42,
  lastScanAt: 1_060_000,
  lastScanMs: 12.5,
  scans: 300,
  tableSize: 3,
  logLevel: 'info',
}

t.test('status files: publish, read back, liveness, removal', async t => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-run-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const runDir = path.join(dir, 'run')
  t.equal(readStatus(runDir, '/run/nsfs'), undefined, 'none yet')
  const p = new StatusPublisher(runDir, '/run/nsfs')
  p.publish(STATUS)
  p.writePid(1234)
  t.same(readStatus(runDir, '/run/nsfs'), STATUS)
  t.equal(fs.readFileSync(path.join(runDir, 'run-nsfs.pid'), 'utf8'), '1234\n')
  t.same(fs.readdirSync(runDir).sort(), ['run-nsfs.json', 'run-nsfs.pid'], 'no temp files left')
  t.notOk(isAlive(STATUS), 'a start time of 0 is not ours')
  const start = Number(fs.readFileSync(`/proc/${process.pid}/stat`, 'latin1').split(') ')[1]?.split(' ')[19])
  t.ok(isAlive({ pid: process.pid, pidStart: start }), 'our own pid and start time')
  fs.writeFileSync(path.join(runDir, 'run-nsfs.json'), '{"pid": 1}')
  t.throws(() => readStatus(runDir, '/run/nsfs'), { code: 'EIO', message: /lacks mountpoint/ })
  fs.writeFileSync(path.join(runDir, 'run-nsfs.json'), 'not json')
  t.throws(() => readStatus(runDir, '/run/nsfs'), { code: 'EIO', message: /not JSON/ })
  p.remove()
  t.same(fs.readdirSync(runDir), [])
})

t.test('status reports', async t => {
  const now = 1_090_000
  const running = report('/run/nsfs', STATUS, true, true, now)
  t.same(running, {
    mountpoint: '/run/nsfs', state: 'running', mounted: true, pid: process.pid, uptimeSeconds: 90,
    namespaces: 42, lastScanAt: new Date(1_060_000).toISOString(), lastScanMs: 12.5, scans: 300, tableSize: 3, logLevel: 'info',
  })
  const text = formatReport(running)
  t.match(text, /^mountpoint: +\/run\/nsfs$/m)
  t.match(text, /^uptime: +90 s$/m)
  t.match(text, /^namespaces: +42$/m)
  t.match(text, /^last scan: +1970-01-01T00:17:40.000Z \(12.5 ms, 300 scans so far\)$/m)
  t.match(text, /^rename table: +3 entries$/m)
  t.equal(report('/run/nsfs', { ...STATUS, mounted: false, lastScanAt: null }, true, false, now).state, 'starting')
  const stale = report('/run/nsfs', STATUS, false, true, now)
  t.equal(stale.state, 'stale')
  t.equal(stale.pid, null, 'a dead daemon has no pid to show')
  t.match(formatReport(stale), /stale: mounted, but no daemon/)
  t.equal(report('/run/nsfs', undefined, false, false, now).state, 'not-running')
})

t.test('FUSE connection numbers come from the mount\'s device minor', async t => {
  const [m] = parseMountinfo('812 30 0:52 / /run/nsfs rw,nosuid,nodev,relatime shared:400 - fuse.nsfs nsfs rw,user_id=0,group_id=0\n')
  t.equal(m?.device, '0:52')
  t.equal(connectionOf(m?.device ?? ''), 52)
  t.throws(() => connectionOf('52'), { code: 'EINVAL' })
})

t.test('the log level can change while running', async t => {
  let level: Level = 'info'
  const lines: string[] = []
  const log = makeLogger(() => level, l => lines.push(l))
  log('debug', 'hidden')
  level = 'debug'
  log('debug', 'shown\nsecond line')
  t.same(lines, ['nsfs: debug: shown | second line\n'])
})
