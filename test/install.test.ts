// scripts/install and --uninstall into scratch roots; the installed systemd
// unit checked by systemd-analyze verify.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './lib/harness.js'

t.setTimeout(600_000)
const INSTALL = path.join(ROOT, 'scripts/install')

function install (env: Record<string, string>, args: string[] = []): { status: number | null, stderr: string } {
  const r = spawnSync(INSTALL, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 })
  return { status: r.status, stderr: r.stderr }
}

function scratch (t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-root-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

function filesUnder (dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter(f => !fs.statSync(path.join(dir, f)).isDirectory()).sort()
}

t.test('install into DESTDIR and uninstall', async t => {
  const root = scratch(t)
  const r = install({ DESTDIR: root })
  t.equal(r.status, 0, r.stderr)
  const at = (p: string): string => path.join(root, p)

  const bin = fs.readFileSync(at('usr/bin/nsfs'), 'utf8')
  t.match(bin, /^#!\/bin\/sh\nexec \/\S+\/node \/usr\/lib\/nsfs\/dist\/cli\/main\.js "\$@"\n$/, 'the command runs the installed app with an absolute node')
  t.ok((fs.statSync(at('usr/bin/nsfs')).mode & 0o111) !== 0, 'executable')
  t.match(fs.readFileSync(at('sbin/mount.fuse.nsfs'), 'utf8'), /^NSFS=\$\{NSFS:-\/usr\/bin\/nsfs\}$/m, 'the helper runs the installed command')
  const unit = fs.readFileSync(at('usr/lib/systemd/system/nsfs.service'), 'utf8')
  t.match(unit, /^ExecStart=\/usr\/bin\/nsfs mount \/run\/nsfs --daemon --config \/etc\/nsfs\/nsfs.conf$/m)
  t.notMatch(unit, /@[A-Z]+@/, 'every placeholder filled in')
  t.ok(fs.existsSync(at('etc/nsfs/nsfs.conf')))

  const app = at('usr/lib/nsfs')
  t.ok(fs.existsSync(path.join(app, 'node_modules/koffi')), 'production dependencies')
  t.notOk(fs.existsSync(path.join(app, 'node_modules/typescript')), 'no dev dependencies')
  t.notOk(fs.existsSync(path.join(app, 'node_modules/tap')))
  const help = spawnSync(process.execPath, [path.join(app, 'dist/cli/main.js'), 'help'], { encoding: 'utf8' })
  t.equal(help.status, 0, help.stderr)
  for (const cmd of ['mount', 'umount', 'status']) t.match(help.stdout, new RegExp(`^  ${cmd} `, 'm'))

  // An administrator's edit survives an uninstall.
  fs.appendFileSync(at('etc/nsfs/nsfs.conf'), 'log_level=debug\n')
  const u = install({ DESTDIR: root }, ['--uninstall'])
  t.equal(u.status, 0, u.stderr)
  t.match(u.stderr, 'keeping')
  t.same(filesUnder(root), ['etc/nsfs/nsfs.conf'], 'nothing else is left')
  const again = install({ DESTDIR: root }, ['--uninstall'])
  t.equal(again.status, 1, 'nothing to uninstall')
  t.equal(install({ DESTDIR: root }, ['--bogus']).status, 2)
})

const verify = spawnSync('systemd-analyze', ['--version']).status === 0 ? undefined : 'needs systemd-analyze (Debian package systemd)'

t.test('the installed unit passes systemd-analyze verify', { skip: verify }, async t => {
  // Installed under a scratch PREFIX, so the unit's commands exist on this
  // host and verify can check them.
  const root = scratch(t)
  const env = { PREFIX: `${root}/usr`, SBINDIR: `${root}/sbin`, UNITDIR: `${root}/units`, CONFDIR: `${root}/etc/nsfs` }
  const r = install(env)
  t.equal(r.status, 0, r.stderr)
  const unit = path.join(root, 'units/nsfs.service')
  const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' })
  t.equal(v.status, 0, v.stderr)
  t.equal(v.stderr.trim(), '', 'no complaints')
  const st = spawnSync(path.join(root, 'usr/bin/nsfs'), ['status', path.join(root, 'nowhere')], { encoding: 'utf8' })
  t.equal(st.status, 1, 'the installed command runs')
  t.match(st.stdout, /not running/)

  // The check can fail: a broken copy of the unit is refused.
  const broken = path.join(root, 'units/nsfs-broken.service')
  fs.writeFileSync(broken, fs.readFileSync(unit, 'utf8').replace(`${root}/usr/bin/nsfs mount`, `${root}/usr/bin/nsfs-missing mount`))
  const bad = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8' })
  t.not(bad.status, 0)
  t.match(bad.stderr, /nsfs-missing is not executable/)
  fs.rmSync(broken)
  t.equal(install(env, ['--uninstall']).status, 0)
  t.same(filesUnder(root), [])
})
