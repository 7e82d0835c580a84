// End to end: mount nsfs in a temp dir and use it as a person would.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { exited, kernelSkipReason, readlinkOr, run, sleep, startDaemon, startHolder, tempDir, waitFor, walk, isMounted, CLI } from './lib/harness.js'

const skip = kernelSkipReason()
const SEED = 'a1b2c3d4'

// dev:ino of every namespace the entries of a mounted tree open, by entry.
function openedBy (mountpoint: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const rel of walk(mountpoint)) {
    const p = path.join(mountpoint, rel)
    try {
      if (!fs.lstatSync(p).isSymbolicLink()) continue
      const st = fs.statSync(p)
      out.set(rel, `${st.dev}:${st.ino}`)
    } catch { /* its namespace or holder went since the walk */ }
  }
  return out
}

function inoOf (link: string): string {
  const m = /\[(\d+)\]/.exec(link)
  if (m === null) throw new Error(`not a namespace link: ${link}`)
  return m[1] as string
}

// `type:ino` of every namespace that /proc/*/task/*/ns shows us.
function procNamespaces (): Set<string> {
  const out = new Set<string>()
  for (const pid of fs.readdirSync('/proc').filter(n => /^\d+$/.test(n))) {
    let tids: string[]
    try { tids = fs.readdirSync(`/proc/${pid}/task`) } catch { continue }
    for (const tid of tids) {
      for (const type of ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']) {
        const l = readlinkOr(`/proc/${pid}/task/${tid}/ns/${type}`)
        if (l !== undefined) out.add(`${type}:${inoOf(l)}`)
      }
    }
  }
  return out
}

// The entry (relative path) that opens the namespace `link` (e.g. 'net:[…]').
function entryFor (mountpoint: string, link: string): string | undefined {
  const ino = inoOf(link)
  for (const [rel, id] of openedBy(mountpoint)) if (id.split(':')[1] === ino) return rel
  return undefined
}

t.test('mounted tree', { skip }, async t => {
  const mnt = tempDir(t)
  const net = await startHolder(t, ['unshare', '--net'])
  const nested = await startHolder(t, ['unshare', '--user', '--map-root-user', 'unshare', '--user', '--map-root-user', '--uts'])
  const d = await startDaemon(t, mnt, ['--seed', SEED])

  t.test('findmnt shows fuse.nsfs from nsfs with allow_other', async t => {
    const r = run('findmnt', ['-n', '-o', 'FSTYPE,SOURCE,OPTIONS', mnt])
    t.equal(r.status, 0)
    const [fstype, source, options] = r.stdout.trim().split(/\s+/)
    t.equal(fstype, 'fuse.nsfs')
    t.equal(source, 'nsfs')
    t.match(options, /allow_other/)
    t.match(options, /default_permissions/)
    const df = run('df', ['-P', mnt])
    t.equal(df.status, 0, df.stderr)
    t.match(df.stdout, /^nsfs\s/m)
  })

  t.test('the root holds `user` and default-named entries, as symlinks', async t => {
    const names = fs.readdirSync(mnt)
    t.ok(names.includes('user'))
    for (const n of names) t.match(n, /^(user|containers|\.nsfs\.json|(cgroup|ipc|mnt|net|pid|time|uts)-[0-9a-f]{12}|user-[0-9a-f]{12})$/)
    const st = fs.lstatSync(path.join(mnt, names.find(n => n.startsWith('net-')) as string))
    t.ok(st.isSymbolicLink())
    const root = fs.statSync(mnt)
    t.equal(root.mode & 0o7777, 0o755)
    t.equal(fs.statSync(path.join(mnt, 'user')).ino, fs.statSync('/proc/self/ns/user').ino, '`user` at the root is our own user namespace')
  })

  t.test('every namespace that /proc shows is in the tree', async t => {
    const before = procNamespaces()
    // Give the daemon a rescan and the kernel's entry cache time to expire.
    await sleep(1000)
    const have = new Set([...openedBy(mnt)].map(([rel, id]) => {
      const base = path.basename(rel)
      const type = base === 'user' ? 'user' : base.split('-')[0] as string
      return `${type}:${id.split(':')[1] ?? ''}`
    }))
    const after = procNamespaces()
    // Only namespaces present in both listings count: a process may end in between.
    const missing = [...before].filter(k => after.has(k) && !have.has(k))
    t.same(missing, [], 'no namespace is missing')
    t.ok(have.size >= 8, `${have.size} namespaces seen`)
  })

  t.test('an unshared network namespace opens with nsenter', async t => {
    const rel = await waitFor('the net entry', () => entryFor(mnt, net.ns('net')))
    t.match(rel, /^net-[0-9a-f]{12}$/, 'owned by the initial user namespace: at the root')
    const r = run('nsenter', [`--net=${path.join(mnt, rel)}`, 'readlink', '/proc/self/ns/net'])
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout.trim(), net.ns('net'))
    const ip = run('nsenter', [`--net=${path.join(mnt, rel)}`, 'ip', '-o', 'link'])
    t.equal(ip.status, 0, ip.stderr)
    t.equal(ip.stdout.trim().split('\n').length, 1, 'a fresh netns has only lo')
    t.match(ip.stdout, /^1: lo:/)
  })

  t.test('setns(2) on an opened entry enters the namespace', async t => {
    const rel = await waitFor('the net entry', () => entryFor(mnt, net.ns('net')))
    const py = [
      'import ctypes, os, sys',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'fd = os.open(sys.argv[1], os.O_RDONLY)',
      'if libc.setns(fd, 0) != 0: sys.exit("setns: " + os.strerror(ctypes.get_errno()))',
      'print(os.readlink("/proc/thread-self/ns/net"))',
    ].join('\n')
    const r = run('python3', ['-c', py, path.join(mnt, rel)])
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout.trim(), net.ns('net'))
  })

  t.test('nested user namespaces are nested directories', async t => {
    const rel = await waitFor('the uts entry', () => entryFor(mnt, nested.ns('uts')))
    const parts = rel.split('/')
    t.equal(parts.length, 3, `uts sits two user namespaces deep: ${rel}`)
    t.match(parts[0], /^user-[0-9a-f]{12}$/)
    t.match(parts[1], /^user-[0-9a-f]{12}$/)
    t.match(parts[2], /^uts-[0-9a-f]{12}$/)
    const inner = path.join(mnt, parts[0] as string, parts[1] as string)
    t.equal(fs.statSync(path.join(inner, 'user')).ino, fs.statSync(`/proc/${nested.pid}/ns/user`).ino, 'the inner directory is the holder\'s user namespace')
    t.equal(fs.statSync(inner).uid, 0, 'directory owned by the owner uid of its user namespace')
    t.notOk(fs.readdirSync(path.join(mnt, parts[0] as string)).includes('user'), 'the outer one is held by no process: no handle')
  })

  t.test('another user sees its own namespaces and opens only those', async t => {
    const nobody = await startHolder(t, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '--user'])
    const rel = await waitFor('the unprivileged user namespace', () => entryFor(mnt, nobody.ns('user')))
    const dir = path.dirname(rel)
    t.match(dir, /^user-[0-9a-f]{12}$/)
    t.equal(fs.statSync(path.join(mnt, dir)).uid, 65534, 'its directory belongs to the user that created it')
    const as = (uid: number, ...cmd: string[]) => run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...cmd])
    const ls = as(65534, 'ls', mnt)
    t.equal(ls.status, 0, ls.stderr)
    t.match(ls.stdout, /^user$/m, 'allow_other: anyone can list, and is in the host\'s user namespace')
    const own = as(65534, 'stat', '-L', '-c', '%i', path.join(mnt, rel))
    t.equal(own.status, 0, own.stderr)
    t.equal(own.stdout.trim(), String(fs.statSync(`/proc/${nobody.pid}/ns/user`).ino), 'its own namespace opens')
    const netRel = await waitFor('the net entry', () => entryFor(mnt, net.ns('net')))
    t.notMatch(ls.stdout, new RegExp(`^${netRel}$`, 'm'), 'root\'s network namespace is not listed for it')
    const other = as(65534, 'nsenter', `--net=${path.join(mnt, netRel)}`, 'true')
    t.not(other.status, 0, 'nor does it open')
    t.match(other.stderr, /No such file or directory/)
  })

  t.test('a namespace only one thread is in', async t => {
    const py = [
      'import ctypes, os, threading, time',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'def run():',
      '    if libc.unshare(0x04000000) != 0: os._exit(3)',
      '    print(threading.get_native_id(), os.readlink("/proc/thread-self/ns/uts"), flush=True)',
      '    time.sleep(3600)',
      'threading.Thread(target=run, daemon=True).start()',
      'time.sleep(3600)',
    ].join('\n')
    const { spawn } = await import('node:child_process')
    const child = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => { child.kill('SIGKILL') })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
    const m = await waitFor('the thread to unshare', () => /^(\d+) (\S+)\n/.exec(out) ?? undefined)
    const tid = m[1] as string
    const link = m[2] as string
    t.not(readlinkOr(`/proc/${child.pid}/ns/uts`), link, 'the main thread is elsewhere')
    const rel = await waitFor('the thread-only uts entry', () => entryFor(mnt, link))
    t.equal(fs.readlinkSync(path.join(mnt, rel)), `/proc/${child.pid}/task/${tid}/ns/uts`)
  })

  t.test('a new namespace appears within 1 s and is gone within 1 s of its holder exiting', async t => {
    const h = await startHolder(t, ['unshare', '--ipc'])
    const link = h.ns('ipc')
    const t0 = Date.now()
    const rel = await waitFor('the ipc entry', () => entryFor(mnt, link), 1000)
    t.ok(Date.now() - t0 <= 1000, `appeared after ${Date.now() - t0} ms`)
    // Looked up and followed, so the kernel caches its name and target.
    const entry = path.join(mnt, rel)
    t.ok(fs.lstatSync(entry).isSymbolicLink())
    t.equal(fs.readlinkSync(entry), `/proc/${h.pid}/ns/ipc`)
    await h.stop()
    const t1 = Date.now()
    await waitFor('the ipc entry to vanish', () => fs.readdirSync(mnt).includes(rel) ? undefined : true, 1000)
    await waitFor('the cached name to go too', () => {
      try { fs.lstatSync(entry); return undefined } catch (err) { return (err as NodeJS.ErrnoException).code === 'ENOENT' ? true : undefined }
    }, 1000)
    t.ok(Date.now() - t1 <= 1000, `vanished after ${Date.now() - t1} ms`)
  })

  t.test('a cached target follows its holder: when the first exits, the next is handed out', async t => {
    const first = await startHolder(t, ['unshare', '--ipc'])
    const next = await startHolder(t, ['nsenter', `--ipc=/proc/${first.pid}/ns/ipc`])
    const rel = await waitFor('the ipc entry', () => entryFor(mnt, first.ns('ipc')))
    const entry = path.join(mnt, rel)
    t.equal(fs.readlinkSync(entry), `/proc/${first.pid}/ns/ipc`, 'the oldest holder')
    t.equal(fs.readlinkSync(entry), `/proc/${first.pid}/ns/ipc`, 'again, from the kernel\'s cache')
    await first.stop()
    const t0 = Date.now()
    await waitFor('the next holder', () => readlinkOr(entry) === `/proc/${next.pid}/ns/ipc` ? true : undefined, 1000)
    t.ok(Date.now() - t0 <= 1000, `after ${Date.now() - t0} ms`)
    t.equal(fs.statSync(entry).ino, fs.statSync(`/proc/${next.pid}/ns/ipc`).ino, 'and it opens the same namespace')
  })

  t.test('writes are refused and the daemon stays up', async t => {
    const entry = path.join(mnt, fs.readdirSync(mnt).find(n => n.startsWith('net-')) as string)
    const tries: Array<[string, () => void, string]> = [
      ['create', () => fs.writeFileSync(path.join(mnt, 'new'), 'x'), 'EROFS'],
      ['mkdir', () => fs.mkdirSync(path.join(mnt, 'dir')), 'EROFS'],
      ['unlink', () => fs.unlinkSync(entry), 'EROFS'],
      ['symlink', () => fs.symlinkSync('/proc/self/ns/net', path.join(mnt, 'mine')), 'EROFS'],
      ['rmdir', () => fs.rmdirSync(path.join(mnt, fs.readdirSync(mnt).find(n => n.startsWith('user-')) ?? 'user-x')), 'EROFS'],
      ['chmod', () => fs.chmodSync(mnt, 0o700), 'EPERM'],
      ['setxattr', () => { const r = run('setfattr', ['-n', 'user.x', '-v', '1', mnt]); if (r.status !== 0) throw Object.assign(new Error(r.stderr), { code: /Read-only/.test(r.stderr) ? 'EROFS' : r.stderr }) }, 'EROFS'],
    ]
    for (const [what, fn, code] of tries) {
      if (what === 'setxattr' && run('which', ['setfattr']).status !== 0) continue
      t.throws(fn, { code }, `${what} → ${code}`)
    }
    t.ok(fs.readdirSync(mnt).includes('user'), 'still serving')
    t.equal(d.child.exitCode, null, 'daemon still running')
  })

  t.test('a second daemon on the same mountpoint is refused', async t => {
    const r = run(process.execPath, [CLI, 'mount', '--foreground', mnt])
    t.equal(r.status, 1)
    t.match(r.stderr, /busy/)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  })

  t.test('SIGTERM unmounts and exits 0', async t => {
    t.equal(await d.stop('SIGTERM'), 0)
    t.notOk(isMounted(mnt), 'unmounted')
  })
})

t.test('names are stable across restarts and change with the seed', { skip }, async t => {
  const mnt = tempDir(t)
  const h = await startHolder(t, ['unshare', '--net'])
  const listing = async (seed: string): Promise<string> => {
    const d = await startDaemon(t, mnt, ['--seed', seed])
    const rel = await waitFor('the net entry', () => entryFor(mnt, h.ns('net')))
    t.equal(await d.stop('SIGINT'), 0, 'SIGINT exits 0')
    return rel
  }
  const first = await listing(SEED)
  const again = await listing(SEED)
  const other = await listing('0badc0de')
  t.equal(again, first, 'same seed, same name')
  t.not(other, first, 'another seed, another name')
})

t.test('a mount left by a killed daemon is recovered', { skip }, async t => {
  const mnt = tempDir(t)
  const d = await startDaemon(t, mnt, ['--seed', SEED])
  await d.stop('SIGKILL')
  t.throws(() => fs.statfsSync(mnt), { code: 'ENOTCONN' }, 'stale after kill -9')
  const again = await startDaemon(t, mnt, ['--seed', SEED])
  t.match(again.stderr(), /recovered a stale mount/)
  t.ok(fs.readdirSync(mnt).includes('user'))
  t.equal(await again.stop(), 0)
})

t.test('clear one-line errors', { skip }, async t => {
  t.test('not root', async t => {
    const mnt = tempDir(t)
    const r = run('env', ['-u', 'NODE_OPTIONS', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'mount', mnt])
    t.equal(r.status, 1)
    t.match(r.stderr, /must run as root/)
    t.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  })
  t.test('no /dev/fuse', async t => {
    const mnt = tempDir(t)
    const r = run('unshare', ['--mount', 'sh', '-c', `mount -t tmpfs none /dev && exec "$0" "$@"`, process.execPath, CLI, 'mount', mnt])
    t.equal(r.status, 1)
    t.match(r.stderr, /\/dev\/fuse/)
    t.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  })
  t.test('bad usage exits 2', async t => {
    const r = run(process.execPath, [CLI, 'mount', '--seed', 'xyz', '/nonexistent/x'])
    t.equal(r.status, 1)
    t.match(r.stderr, /--seed wants an even number of hex digits/)
    const o = run(process.execPath, [CLI, 'mount', '--bogus'])
    t.equal(o.status, 2)
    t.match(o.stderr, /Unknown option '--bogus'/)
    t.equal(o.stderr.trim().split('\n').length, 1, o.stderr)
    const u = run(process.execPath, [CLI, 'frobnicate'])
    t.equal(u.status, 2)
    t.match(u.stderr, /unknown command 'frobnicate'/)
  })
})

t.test('a mount still in use when the daemon stops', { skip }, async t => {
  const mnt = tempDir(t)
  // A process with its working directory in the mount keeps it busy.
  const inside = async (): Promise<ChildProcess> => {
    const child = spawn('sleep', ['3600'], { cwd: mnt, stdio: 'ignore' })
    t.teardown(() => { child.kill('SIGKILL') })
    await waitFor('sleep to run inside the mount', () => readlinkOr(`/proc/${child.pid}/cwd`) === mnt ? true : undefined)
    return child
  }

  t.test('SIGTERM detaches it, ends its connection and exits 0', async t => {
    const d = await startDaemon(t, mnt, ['--seed', SEED])
    const child = await inside()
    t.equal(await d.stop('SIGTERM'), 0)
    t.notOk(isMounted(mnt), 'gone from the mount table')
    t.match(d.stderr(), /is busy: detached; it goes away once nothing uses it/)
    t.throws(() => fs.readdirSync(`/proc/${child.pid}/cwd/`), { code: 'ENOTCONN' }, 'its user hears ENOTCONN')
  })

  t.test('umount -l from outside stops the daemon, which exits 0', async t => {
    const d = await startDaemon(t, mnt, ['--seed', SEED])
    const child = await inside()
    t.equal(run('umount', ['-l', mnt]).status, 0)
    t.equal(await exited(d.child), 0)
    t.match(d.stderr(), /was unmounted; stopping/)
    t.throws(() => fs.readdirSync(`/proc/${child.pid}/cwd/`), { code: 'ENOTCONN' }, 'its user hears ENOTCONN')
  })
})
