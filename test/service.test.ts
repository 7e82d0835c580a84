// nsfs run as a service, the way an administrator does: `nsfs mount
// --daemon`, `nsfs status`, signals, `nsfs umount`, crashes and a hung daemon.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { readMountinfo } from '../src/kernel/mountinfo.js'
import { spawn } from 'node:child_process'
import { CLI, isMounted, kernelSkipReason, run, waitFor } from './lib/harness.js'
import { nsfs, pidAlive, site, SLOW_MS, waitExit } from './lib/service.js'

const skip = kernelSkipReason()
const SEED = 'a1b2c3d4'
// Several daemons start here, each with a first scan of the whole host.
t.setTimeout(600_000)

function mountId (mnt: string): number | undefined {
  return readMountinfo().filter(m => m.mountPoint === mnt).at(-1)?.mountId
}

function lines (s: string): string[] {
  return s.trim().split('\n').filter(l => l !== '')
}

t.test('mount --daemon, status, SIGHUP, a second daemon, umount', { skip }, async t => {
  const s = site(t)
  const conf = path.join(s.runDir, 'nsfs.conf')
  fs.writeFileSync(conf, 'log_level=info\n')
  const m = nsfs(['mount', s.mnt, '--daemon', '--config', conf, '--seed', SEED, ...s.run])
  t.equal(m.status, 0, m.stderr)
  const pid = s.pid()
  if (pid === undefined) throw new Error('no pid file after mount --daemon')
  t.match(m.stderr, `mounted at ${s.mnt} (daemon pid ${pid})`)
  t.equal(m.stdout, '', 'nothing on stdout')
  t.ok(isMounted(s.mnt), 'mounted when mount --daemon returns')
  t.ok(fs.readdirSync(s.mnt).includes('user'), 'and serving')

  t.test('status --json', async t => {
    const r = nsfs(['status', s.mnt, '--json', ...s.run])
    t.equal(r.status, 0, r.stderr)
    const st = JSON.parse(r.stdout) as Record<string, unknown>
    t.match(st, { mountpoint: s.mnt, state: 'running', mounted: true, pid, tableSize: 0, logLevel: 'info' })
    t.ok(typeof st.namespaces === 'number' && st.namespaces >= 8, `${String(st.namespaces)} namespaces`)
    t.ok(typeof st.uptimeSeconds === 'number' && st.uptimeSeconds >= 0)
    t.ok(typeof st.lastScanMs === 'number' && st.lastScanMs > 0)
    t.ok(Date.now() - Date.parse(String(st.lastScanAt)) < SLOW_MS, 'last scan is recent')
    const text = nsfs(['status', s.mnt, ...s.run])
    t.equal(text.status, 0)
    t.match(text.stdout, new RegExp(`^pid: +${pid}$`, 'm'))
    t.match(text.stdout, /^state: +running$/m)
  })

  t.test('a second daemon on the same mountpoint is refused', async t => {
    for (const mode of ['--daemon', '--foreground']) {
      const r = nsfs(['mount', s.mnt, mode, ...s.run])
      t.equal(r.status, 1, mode)
      t.match(r.stderr, `already served by nsfs (pid ${pid})`)
      t.equal(lines(r.stderr).length, 1, `one line: ${r.stderr}`)
    }
    t.ok(pidAlive(pid), 'the first one still runs')
  })

  t.test('SIGHUP re-reads the config and rescans without unmounting', async t => {
    const before = mountId(s.mnt)
    const logged = (): string => fs.readFileSync(s.logFile, 'utf8')
    fs.writeFileSync(conf, '# more detail\nlog_level=debug\ninterval_ms=300\n')
    process.kill(pid, 'SIGHUP')
    await waitFor('the reload', () => /SIGHUP: reloaded .* \(log_level debug, interval_ms 300\)/.test(logged()) ? true : undefined, SLOW_MS)
    await waitFor('a debug line of the rescan', () => /nsfs: debug: rescan: \d+ processes/.test(logged()) ? true : undefined, SLOW_MS)
    t.equal(mountId(s.mnt), before, 'the same mount')
    t.ok(pidAlive(pid), 'the same daemon')
    const st = JSON.parse(nsfs(['status', s.mnt, '--json', ...s.run]).stdout) as { logLevel: string }
    t.equal(st.logLevel, 'debug', 'status shows the new level')
    fs.writeFileSync(conf, 'log_level=shouting\n')
    process.kill(pid, 'SIGHUP')
    await waitFor('the refusal', () => /error: SIGHUP: kept the old configuration: log level must be one of/.test(logged()) ? true : undefined, SLOW_MS)
    t.ok(pidAlive(pid), 'a bad config does not stop the daemon')
    t.ok(fs.readdirSync(s.mnt).includes('user'), 'still serving')
  })

  t.test('umount stops the daemon, which unmounts and cleans up', async t => {
    const r = nsfs(['umount', s.mnt, ...s.run])
    t.equal(r.status, 0, r.stderr)
    t.notOk(pidAlive(pid), 'daemon gone when umount returns')
    t.notOk(isMounted(s.mnt), 'unmounted')
    t.notOk(fs.existsSync(s.statusFile), 'status file removed')
    t.notOk(fs.existsSync(s.pidFile), 'pid file removed')
    const log = fs.readFileSync(s.logFile, 'utf8')
    t.match(log, 'SIGTERM: unmounting')
    t.match(log, `unmounted ${s.mnt}`)
    const st = nsfs(['status', s.mnt, ...s.run])
    t.equal(st.status, 1, 'status of nothing exits 1')
    t.match(st.stdout, /^state: +not running$/m)
    const again = nsfs(['umount', s.mnt, ...s.run])
    t.equal(again.status, 1)
    t.match(again.stderr, `not mounted: ${s.mnt}`)
  })
})

t.test('kill -9 leaves a stale mount: status says so, mount and umount --stale recover', { skip }, async t => {
  const s = site(t)
  t.equal(nsfs(['mount', s.mnt, '--daemon', ...s.run]).status, 0)
  const first = s.pid() as number
  process.kill(first, 'SIGKILL')
  t.ok(await waitExit(first), 'killed')
  // While its last thread exits, the kernel answers ECONNABORTED; then
  // ENOTCONN. statfs, since a stat may be answered from cached attributes.
  const codes = new Set<string | undefined>()
  await waitFor('the mount to go stale', () => {
    try { fs.statfsSync(s.mnt); codes.add('ok') } catch (err) { codes.add((err as NodeJS.ErrnoException).code) }
    return codes.has('ENOTCONN') ? true : undefined
  }, 10_000)
  t.notOk(codes.has('ok'), 'never answers after kill -9')

  const st = nsfs(['status', s.mnt, '--json', ...s.run])
  t.equal(st.status, 1)
  t.match(JSON.parse(st.stdout), { state: 'stale', mounted: true, pid: null })

  const again = nsfs(['mount', s.mnt, '--daemon', ...s.run])
  t.equal(again.status, 0, again.stderr)
  const log = fs.readFileSync(s.logFile, 'utf8')
  t.match(log, `a previous daemon (pid ${first}) ended without cleaning up`)
  t.match(log, `recovered a stale mount left by a crashed daemon at ${s.mnt}`)
  t.ok(fs.readdirSync(s.mnt).includes('user'), 'serving again')

  const second = s.pid() as number
  t.not(second, first)
  process.kill(second, 'SIGKILL')
  t.ok(await waitExit(second), 'killed again')
  const clean = nsfs(['umount', s.mnt, '--stale', ...s.run])
  t.equal(clean.status, 0, clean.stderr)
  t.match(clean.stderr, `detached a stale mount at ${s.mnt}`)
  t.notOk(isMounted(s.mnt))
  t.notOk(fs.existsSync(s.statusFile), 'the dead daemon\'s files are gone')
  const noop = nsfs(['umount', s.mnt, '--stale', ...s.run])
  t.equal(noop.status, 0, 'nothing stale: still 0')
  t.equal(noop.stderr, '')
})

t.test('umount(8) from outside stops the daemon with status 0', { skip }, async t => {
  const s = site(t)
  const child = spawn(process.execPath, [CLI, 'mount', s.mnt, '--foreground', ...s.run], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  await waitFor('the mount', () => err.includes(`mounted at ${s.mnt}`) ? true : undefined, SLOW_MS)
  const r = run('umount', [s.mnt])
  t.equal(r.status, 0, r.stderr)
  t.equal(await waitFor('the daemon to exit', () => child.exitCode ?? undefined, 10_000), 0, 'exits 0 by itself')
  t.match(err, `${s.mnt} was unmounted; stopping`)
  t.notMatch(err, /error/)
  t.notOk(fs.existsSync(s.statusFile), 'status file removed')
})

t.test('umount --force frees the mount of a hung daemon', { skip }, async t => {
  const s = site(t)
  t.equal(nsfs(['mount', s.mnt, '--daemon', ...s.run]).status, 0)
  const pid = s.pid() as number
  // A stopped daemon answers nothing: any access to the mount would hang.
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { if (pidAlive(pid)) process.kill(pid, 'SIGKILL') })

  const st = nsfs(['status', s.mnt, '--json', ...s.run])
  t.equal(st.status, 0, 'status answers without touching the mount')
  t.match(JSON.parse(st.stdout), { state: 'running', pid })

  const polite = nsfs(['umount', s.mnt, '--timeout', '1', ...s.run])
  t.equal(polite.status, 1)
  t.match(polite.stderr, `the daemon (pid ${pid}) did not stop within 1 s; try \`nsfs umount --force ${s.mnt}\``)

  const conn = readMountinfo().filter(m => m.mountPoint === s.mnt).at(-1)?.device.split(':')[1]
  const forced = nsfs(['umount', s.mnt, '--force', '--timeout', '1', ...s.run])
  t.equal(forced.status, 0, forced.stderr)
  t.match(forced.stderr, `aborted FUSE connection ${conn} of ${s.mnt}`)
  t.match(forced.stderr, `killed the daemon (pid ${pid})`)
  t.notOk(isMounted(s.mnt), 'detached')
  t.ok(await waitExit(pid), 'daemon gone')
  t.notOk(fs.existsSync(s.statusFile), 'its files removed')
  // The connection goes once the killed daemon's last thread has exited.
  t.ok(await waitFor('the connection to go', () => fs.existsSync(`/sys/fs/fuse/connections/${conn}`) ? undefined : true, 10_000), 'the connection is gone')
})

t.test('usage errors exit 2 and name the bad value', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['mount', '-o', 'rw,bogus=1', '/nonexistent'], /unknown mount option 'bogus=1'/],
    [['mount', '--daemon', '--foreground', '/nonexistent'], /--foreground and --daemon exclude each other/],
    [['mount', '--log-level', 'loud', '/nonexistent'], /got 'loud'/],
    [['umount', '--force', '--stale', '/nonexistent'], /--force and --stale exclude each other/],
    [['umount', '--timeout', '0', '/nonexistent'], /--timeout must be a positive number of seconds, got '0'/],
    [['status', 'a', 'b'], /status takes one mountpoint/],
    [['status', '--frob'], /Unknown option '--frob'/],
  ]
  for (const [args, msg] of cases) {
    const r = nsfs(args)
    t.equal(r.status, 2, args.join(' '))
    t.match(r.stderr, msg)
  }
  for (const cmd of ['mount', 'umount', 'status']) {
    const h = nsfs([cmd, '--help'])
    t.equal(h.status, 0)
    t.match(h.stdout, `usage: nsfs ${cmd}`)
  }
})
