// mount(8) and umount(8) through the helper: `mount -t fuse.nsfs nsfs DIR`
// and an fstab line run /sbin/mount.fuse.nsfs, which starts the daemon;
// `umount DIR` stops it. Runs in a private mount namespace with the helper's
// directory bound over /usr/sbin (/sbin links there), so the host's /sbin is
// never touched.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CLI, kernelSkipReason, ROOT } from './lib/harness.js'
import { pidAlive, site, SLOW_MS } from './lib/service.js'

const skip = kernelSkipReason() ?? (fs.realpathSync('/sbin') === '/usr/sbin' ? undefined : 'needs /sbin linked to /usr/sbin')
t.setTimeout(600_000)

// Runs `script` as bash in a private mount namespace whose /usr/sbin holds
// only the helper; the helper runs the CLI of this tree.
function inPrivateNs (t: { teardown: (fn: () => void) => void }, script: string, args: string[]): { status: number | null, out: string, err: string } {
  const sbin = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-sbin-'))
  t.teardown(() => fs.rmSync(sbin, { recursive: true, force: true }))
  fs.copyFileSync(path.join(ROOT, 'mount/mount.fuse.nsfs'), path.join(sbin, 'mount.fuse.nsfs'))
  fs.chmodSync(path.join(sbin, 'mount.fuse.nsfs'), 0o755)
  const wrapper = path.join(sbin, 'nsfs')
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 })
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', `mount --bind "$0" /usr/sbin\n${script}`, sbin, ...args], {
    encoding: 'utf8',
    timeout: SLOW_MS * 2,
    env: { ...process.env, NSFS: wrapper },
  })
  return { status: r.status, out: r.stdout, err: r.stderr }
}

// Waits in the script for the daemon of the pid file to be gone.
const WAIT_EXIT = `
wait_exit () {
  # gone, or a zombie waiting to be reaped
  for _ in $(seq 200); do grep -qv '^State:[[:space:]]*[ZX]' <(grep ^State: "/proc/$1/status" 2>/dev/null) || { echo "exited $1"; return; }; sleep 0.05; done
  echo "still running $1"
}`

t.test('mount -t fuse.nsfs and umount, through the helper', { skip }, async t => {
  const s = site(t)
  const r = inPrivateNs(t, `${WAIT_EXIT}
mnt=$1 run=$2
mount -t fuse.nsfs -o run_dir="$run",seed=00ff nsfs "$mnt"; echo "mount status $?"
findmnt -n -o FSTYPE,SOURCE "$mnt"
ls "$mnt" | grep -x user
mount -t fuse.nsfs -o run_dir="$run" nsfs "$mnt"; echo "second mount status $?"
pid=$(cat "$run"/*.pid)
umount "$mnt"; echo "umount status $?"
wait_exit "$pid"
findmnt "$mnt" >/dev/null || echo "not mounted"
`, [s.mnt, s.runDir])
  t.equal(r.status, 0, r.err)
  t.match(r.out, /^mount status 0$/m)
  t.match(r.out, /^fuse\.nsfs\s+nsfs$/m, 'findmnt sees the mount')
  t.match(r.out, /^user$/m, 'ls shows the tree')
  t.match(r.out, /^second mount status 32$/m, 'a failed mount is status 32 for mount(8)')
  t.match(r.err, /already served by nsfs \(pid \d+\)/)
  t.match(r.out, /^umount status 0$/m)
  t.match(r.out, /^exited \d+$/m, 'umount stopped the daemon')
  t.match(r.out, /^not mounted$/m)
  const log = fs.readFileSync(s.logFile, 'utf8')
  t.match(log, `${s.mnt} was unmounted; stopping`)
  const errors = log.split('\n').filter(l => l.includes('error'))
  t.same(errors.filter(l => !l.includes('already served by nsfs')), [], 'no errors but the second mount\'s')
  t.notOk(fs.existsSync(s.statusFile), 'the daemon cleaned up')
})

t.test('an fstab line', { skip }, async t => {
  const s = site(t)
  const fstab = path.join(s.runDir, 'fstab')
  fs.writeFileSync(fstab, `# the documented line, with a private run dir\nnsfs ${s.mnt} fuse.nsfs defaults,run_dir=${s.runDir} 0 0\n`)
  const r = inPrivateNs(t, `${WAIT_EXIT}
mnt=$1 run=$2 fstab=$3
mount --fstab "$fstab" "$mnt"; echo "mount status $?"
findmnt -n -o FSTYPE,SOURCE "$mnt"
pid=$(cat "$run"/*.pid)
umount "$mnt"; echo "umount status $?"
wait_exit "$pid"
`, [s.mnt, s.runDir, fstab])
  t.equal(r.status, 0, r.err)
  t.match(r.out, /^mount status 0$/m)
  t.match(r.out, /^fuse\.nsfs\s+nsfs$/m)
  t.match(r.out, /^umount status 0$/m)
  t.match(r.out, /^exited \d+$/m)
})

t.test('a bad option is bad usage: status 1 and a line that names it', { skip }, async t => {
  const s = site(t)
  const r = inPrivateNs(t, `
mount -t fuse.nsfs -o run_dir="$2",colour=blue nsfs "$1"; echo "mount status $?"
findmnt "$1" >/dev/null || echo "not mounted"
`, [s.mnt, s.runDir])
  t.match(r.out, /^mount status 1$/m)
  t.match(r.out, /^not mounted$/m)
  t.match(r.err, /unknown mount option 'colour=blue'/)
  const pid = s.pid()
  t.ok(pid === undefined || !pidAlive(pid), 'no daemon left')
})
