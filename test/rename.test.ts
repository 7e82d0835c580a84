// Renaming with mv, end to end: real namespaces, a temp mount and a temp
// state directory, used as a person would.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { nsGetId } from '../src/kernel/ns-ioctl.js'
import type { NsType } from '../src/model/namespace.js'
import { defaultName, nameHash } from '../src/model/names.js'
import { readOverlayFile, STATE_FILE } from '../src/store/overlay-store.js'
import { CLI, exited, kernelSkipReason, run, sleep, startDaemon, startHolder, stateDir, tempDir, waitFor } from './lib/harness.js'

const skip = kernelSkipReason()
const SEED = 'a1b2c3d4'
// How long a new namespace may take to show: a scan of a host crowded by
// other tests' namespaces can take seconds.
const SCAN_WAIT = 60000

// The default name nsfs gives the namespace at /proc/PID/ns/TYPE (seeded
// with SEED), computed here instead of searched for: other tests' namespaces
// may crowd the tree.
function defaultOf (pid: number, type: NsType): string {
  const p = `/proc/${pid}/ns/${type}`
  const fd = fs.openSync(p, 'r')
  try {
    const st = fs.fstatSync(fd)
    const id = nsGetId(fd, p).toString()
    return defaultName(type, nameHash(Buffer.from(SEED, 'hex'), { type, id, dev: st.dev, ino: st.ino }))
  } finally {
    fs.closeSync(fd)
  }
}

function names (state: string): Map<string, string> {
  const file = readOverlayFile(path.join(state, STATE_FILE))
  return new Map([...(file?.names.values() ?? [])].map(e => [e.path, e.key]))
}

function exists (p: string): true | undefined {
  try { fs.lstatSync(p); return true } catch { return undefined }
}

// errno code of rename(2) from a separate process, after `prefix` (e.g.
// setpriv). The system's python, which every user may run; not node, so no
// test-runner environment leaks in.
function renameErr (src: string, dest: string, prefix: string[] = []): string {
  // `<ff>` in a path stands for the byte 0xff, which is not UTF-8.
  const py = 'import os, sys, errno\nb = lambda s: os.fsencode(s).replace(b"<ff>", b"\\xff")\ntry:\n    os.rename(b(sys.argv[1]), b(sys.argv[2])); print("OK")\nexcept OSError as e:\n    print(errno.errorcode[e.errno])'
  const [cmd, ...args] = [...prefix, '/usr/bin/python3', '-c', py, src, dest]
  const r = run(cmd as string, args)
  return r.stdout.trim() || r.stderr
}

t.test('mv names a namespace', { skip }, async top => {
  // A daemon started for all subtests must hang on `top`: a subtest's
  // teardown runs when that subtest ends.
  const t = top
  const mnt = tempDir(t)
  const state = stateDir(t)
  const net = await startHolder(t, ['unshare', '--net'])
  const nested = await startHolder(t, ['unshare', '--user', '--map-root-user', '--uts'])
  const sibling = await startHolder(t, ['unshare', '--user'])
  let d = await startDaemon(t, mnt, ['--seed', SEED, '--state-dir', state])
  const netDefault = defaultOf(net.pid, 'net')
  const dirDefault = defaultOf(nested.pid, 'user')
  const utsDefault = defaultOf(nested.pid, 'uts')
  const siblingDir = defaultOf(sibling.pid, 'user')
  await waitFor('the net entry', () => exists(path.join(mnt, netDefault)), SCAN_WAIT)
  await waitFor('the nested directory', () => exists(path.join(mnt, dirDefault, utsDefault)), SCAN_WAIT)

  t.test('rename with mv, open through the new name', async t => {
    const r = run('mv', [path.join(mnt, netDefault), path.join(mnt, 'web')])
    t.equal(r.status, 0, r.stderr)
    const listing = fs.readdirSync(mnt)
    t.ok(listing.includes('web'), 'ls shows the new name at once')
    t.notOk(listing.includes(netDefault), 'and not the old one')
    const enter = run('nsenter', [`--net=${path.join(mnt, 'web')}`, 'readlink', '/proc/self/ns/net'])
    t.equal(enter.status, 0, enter.stderr)
    t.equal(enter.stdout.trim(), net.ns('net'), 'opens the same namespace as before')
    t.equal(names(state).get('/web'), `net:${nsGetIdOf(net.pid, 'net')}`, 'recorded in the state file')
    await sleep(500)
    t.ok(fs.readdirSync(mnt).includes('web'), 'still so after rescans')
  })

  t.test('renaming a user-namespace directory renames that user namespace', async t => {
    const r = run('mv', [path.join(mnt, dirDefault), path.join(mnt, 'tenant')])
    t.equal(r.status, 0, r.stderr)
    t.ok(fs.statSync(path.join(mnt, 'tenant')).isDirectory())
    t.equal(fs.statSync(path.join(mnt, 'tenant', 'user')).ino, fs.statSync(`/proc/${nested.pid}/ns/user`).ino)
    const inner = run('mv', [path.join(mnt, 'tenant', utsDefault), path.join(mnt, 'tenant', 'box')])
    t.equal(inner.status, 0, inner.stderr)
    const enter = run('nsenter', [`--uts=${path.join(mnt, 'tenant', 'box')}`, 'readlink', '/proc/self/ns/uts'])
    t.equal(enter.stdout.trim(), nested.ns('uts'))
    t.equal(names(state).get('/tenant/box'), `uts:${nsGetIdOf(nested.pid, 'uts')}`)
  })

  t.test('nsfs names lists the table', async t => {
    const r = run(process.execPath, [CLI, 'names', '--state-dir', state])
    t.equal(r.status, 0, r.stderr)
    t.match(r.stdout, /^NAME\s+TYPE\s+IDENTITY\s+DIRECTORY\n/)
    t.match(r.stdout, new RegExp(`^web\\s+net\\s+net:${nsGetIdOf(net.pid, 'net')}\\s+/$`, 'm'))
    t.match(r.stdout, /^box\s+uts\s+uts:\d+\s+\/tenant$/m)
    t.match(r.stdout, /^tenant\s+user\s+user:\d+\s+\/$/m)
    const j = run(process.execPath, [CLI, 'names', '--json', '--state-dir', state])
    const rows = JSON.parse(j.stdout) as Array<{ name: string, type: string, identity: string, directory: string }>
    t.same(rows.map(r => r.name).sort(), ['box', 'tenant', 'web'])
    t.match(rows.find(r => r.name === 'box'), { type: 'uts', directory: '/tenant', path: '/tenant/box' })
  })

  t.test('nsfs ls shows the chosen names', async t => {
    const r = run(process.execPath, [CLI, 'ls', '--json', '--seed', SEED, '--state-dir', state])
    t.equal(r.status, 0, r.stderr)
    const records = (JSON.parse(r.stdout) as { namespaces: Array<{ path: string | null, ns: number }> }).namespaces
    t.equal(records.find(x => x.path === '/web')?.ns, fs.statSync(`/proc/${net.pid}/ns/net`).ino, '/web is the renamed net namespace')
    t.ok(records.some(x => x.path === '/tenant/box'), 'and a rename inside a renamed directory')
    t.notOk(records.some(x => x.path === `/${netDefault}`), 'not under its default name')
  })

  t.test('the name survives a restart of the daemon', async t => {
    t.equal(await d.stop(), 0)
    // Started for the rest of the tests, not just this one.
    d = await startDaemon(top, mnt, ['--seed', SEED, '--state-dir', state])
    t.match(d.stderr(), /loaded 3 names from /)
    const listing = fs.readdirSync(mnt)
    t.ok(listing.includes('web'))
    t.notOk(listing.includes(netDefault))
    t.ok(exists(path.join(mnt, 'tenant', 'box')))
  })

  t.test('bad input: each errno, the daemon still up', async t => {
    const web = path.join(mnt, 'web')
    const other = path.join(mnt, fs.readdirSync(mnt).find(n => n.startsWith('net-')) as string)
    const cases: Array<[string, string, string, string]> = [
      ['onto an existing entry', web, other, 'EEXIST'],
      ['onto an existing directory', path.join(mnt, 'tenant'), path.join(mnt, siblingDir), 'EEXIST'],
      ['into another directory', web, path.join(mnt, 'tenant', 'web'), 'EXDEV'],
      ['out of a directory', path.join(mnt, 'tenant', 'box'), path.join(mnt, 'box'), 'EXDEV'],
      ['the user entry', path.join(mnt, 'user'), path.join(mnt, 'me'), 'EPERM'],
      ['a nested user entry', path.join(mnt, 'tenant', 'user'), path.join(mnt, 'tenant', 'me'), 'EPERM'],
      ['onto user', web, path.join(mnt, 'user'), 'EPERM'],
      ['256 bytes', web, path.join(mnt, 'x'.repeat(256)), 'ENAMETOOLONG'],
      ['a control character', web, path.join(mnt, 'a\x01b'), 'EINVAL'],
      ['a newline', web, path.join(mnt, 'a\nb'), 'EINVAL'],
      ['bytes that are not UTF-8', web, path.join(mnt, 'bad<ff>'), 'EINVAL'],
      ["another namespace's default shape", web, path.join(mnt, 'net-0123456789ab'), 'EINVAL'],
      ['its own hash as another type', web, path.join(mnt, `uts-${netDefault.slice(4)}`), 'EINVAL'],
      ['a missing source', path.join(mnt, 'net-000000000000'), path.join(mnt, 'x'), 'ENOENT'],
      // These the kernel answers before nsfs sees them.
      ['. (kernel)', web, `${mnt}/.`, 'EBUSY'],
      ['.. (kernel)', web, `${mnt}/..`, 'EBUSY'],
      ['empty (kernel)', web, '', 'ENOENT'],
      ['over 1024 bytes', web, path.join(mnt, 'x'.repeat(1025)), 'ENAMETOOLONG'],
    ]
    for (const [what, src, dest, code] of cases) t.equal(renameErr(src, dest), code, `${what} → ${code}`)
    t.ok(exists(web), 'nothing was renamed')
    t.ok(exists(other), 'nothing was replaced')
    t.same([...names(state).keys()].sort(), ['/tenant', '/tenant/box', '/web'], 'the table is unchanged')

    // What mv prints for them.
    const mv = (src: string, dest: string): string => run('mv', [src, dest]).stderr.trim()
    t.match(mv(web, other), /File exists/)
    t.match(mv(web, path.join(mnt, 'user')), /Operation not permitted/)
    t.match(mv(web, path.join(mnt, 'tenant', 'web')), /Read-only file system/, 'mv falls back to copying after EXDEV')
    t.equal(d.child.exitCode, null, 'daemon still running')
    t.ok(fs.readdirSync(mnt).includes('web'))
  })

  t.test('a namespace that just died cannot be renamed', async t => {
    const h = await startHolder(t, ['unshare', '--ipc'])
    const name = defaultOf(h.pid, 'ipc')
    await waitFor('the ipc entry', () => exists(path.join(mnt, name)), SCAN_WAIT)
    await h.stop()
    t.equal(renameErr(path.join(mnt, name), path.join(mnt, 'late')), 'ENOENT')
    t.notOk(names(state).has('/late'))
  })

  t.test('renaming back to the default name forgets the name', async t => {
    t.equal(run('mv', [path.join(mnt, 'web'), path.join(mnt, 'www')]).status, 0, 'renamed again')
    t.notOk(exists(path.join(mnt, 'web')))
    t.equal(run('mv', [path.join(mnt, 'www'), path.join(mnt, netDefault)]).status, 0)
    t.ok(exists(path.join(mnt, netDefault)))
    t.notOk(names(state).has('/www'), 'gone from the table')
    t.equal(run('mv', [path.join(mnt, netDefault), path.join(mnt, 'web')]).status, 0, 'and named again')
  })

  t.test('an unprivileged user is denied with EACCES, and does not even see the entry', async t => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    t.equal(renameErr(path.join(mnt, 'web'), path.join(mnt, 'mine'), nobody), 'EACCES', 'no write permission on root\'s directory')
    const r = run(nobody[0] as string, [...nobody.slice(1), 'mv', path.join(mnt, 'web'), path.join(mnt, 'mine')])
    t.equal(r.status, 1)
    t.match(r.stderr, /No such file or directory/, 'a chosen name is looked up for each caller: not its namespace to see')
    t.ok(exists(path.join(mnt, 'web')))
  })

  t.test('the owner of a user namespace may rename in its directory', async t => {
    const h = await startHolder(t, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '--user', '--uts'])
    const dir = defaultOf(h.pid, 'user')
    const uts = defaultOf(h.pid, 'uts')
    await waitFor('the unprivileged user namespace', () => exists(path.join(mnt, dir, uts)), SCAN_WAIT)
    t.equal(fs.statSync(path.join(mnt, dir)).uid, 65534, 'the directory belongs to its owner')
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    t.equal(renameErr(path.join(mnt, dir, uts), path.join(mnt, dir, 'mine'), nobody), 'OK')
    t.equal(renameErr(path.join(mnt, dir), path.join(mnt, 'mine'), nobody), 'EACCES', 'but not the directory itself: the root is root\'s')
    t.equal(names(state).get(`/${dir}/mine`), `uts:${nsGetIdOf(h.pid, 'uts')}`)
  })

  t.test('a namespace that dies is forgotten', async t => {
    const h = await startHolder(t, ['unshare', '--ipc'])
    const name = defaultOf(h.pid, 'ipc')
    await waitFor('the ipc entry', () => exists(path.join(mnt, name)), SCAN_WAIT)
    t.equal(run('mv', [path.join(mnt, name), path.join(mnt, 'doomed')]).status, 0)
    t.ok(names(state).has('/doomed'))
    await h.stop()
    await waitFor('the name to be forgotten', () => names(state).has('/doomed') ? undefined : true, SCAN_WAIT)
    t.notOk(exists(path.join(mnt, 'doomed')))
  })

  t.test('a namespace that dies while the daemon is down is forgotten at start', async t => {
    const h = await startHolder(t, ['unshare', '--ipc'])
    const name = defaultOf(h.pid, 'ipc')
    await waitFor('the ipc entry', () => exists(path.join(mnt, name)), SCAN_WAIT)
    t.equal(run('mv', [path.join(mnt, name), path.join(mnt, 'mortal')]).status, 0)
    t.equal(await d.stop(), 0)
    await h.stop()
    t.ok(names(state).has('/mortal'), 'still in the file while no daemon runs')
    d = await startDaemon(t, mnt, ['--seed', SEED, '--state-dir', state])
    t.notOk(names(state).has('/mortal'), 'forgotten after the first scan')
    t.ok(names(state).has('/web'), 'the living keep theirs')
    const r = run(process.execPath, [CLI, 'names', '--state-dir', state])
    t.notMatch(r.stdout, /mortal/)
    t.equal(await d.stop(), 0)
  })
})

function nsGetIdOf (pid: number, type: string): string {
  const p = `/proc/${pid}/ns/${type}`
  const fd = fs.openSync(p, 'r')
  try { return nsGetId(fd, p).toString() } finally { fs.closeSync(fd) }
}

// 200 uts namespaces, one per child of one python process; the children die
// with it.
async function manyNamespaces (t: { teardown: (fn: () => void | Promise<void>) => void }, n: number): Promise<number[]> {
  const py = [
    'import ctypes, os, sys, time',
    'libc = ctypes.CDLL(None, use_errno=True)',
    `for i in range(${n}):`,
    '    pid = os.fork()',
    '    if pid == 0:',
    '        libc.prctl(1, 9)',
    '        if libc.unshare(0x04000000) != 0: os._exit(3)',
    // One write(2) per line: concurrent writes of a line each never mix.
    "        os.write(1, f'{os.getpid()}\\n'.encode())",
    '        time.sleep(3600)',
    '        os._exit(0)',
    'time.sleep(3600)',
  ].join('\n')
  const child: ChildProcess = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(async () => { child.kill('SIGKILL'); await exited(child) })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s })
  // Each child prints its pid once it has unshared.
  return await waitFor(`${n} namespaces`, () => {
    if (child.exitCode !== null) throw new Error(`python exited with ${child.exitCode}: ${out}`)
    const lines = out.split('\n').filter(l => l !== '')
    return lines.length >= n ? lines.map(Number) : undefined
  }, SCAN_WAIT)
}

// Runs one `mv` per pair, all at once from a shell, and appends the
// destination of each that succeeded to `okFile`.
function burst (pairs: Array<[string, string]>, okFile: string): ChildProcess {
  const script = pairs.map(([a, b]) => `( mv '${a}' '${b}' 2>/dev/null && echo '${b}' >> '${okFile}' ) &`).join('\n') + '\nwait\n'
  return spawn('bash', ['-c', script], { stdio: 'ignore' })
}

t.test('many renames at once', { skip }, async t => {
  const mnt = tempDir(t)
  const state = stateDir(t)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-burst-'))
  t.teardown(() => { fs.rmSync(work, { recursive: true, force: true }) })
  const pids = await manyNamespaces(t, 200)
  let d = await startDaemon(t, mnt, ['--seed', SEED, '--state-dir', state])
  const defaults = pids.map(pid => defaultOf(pid, 'uts'))
  await waitFor('all 200 entries', () => defaults.every(n => exists(path.join(mnt, n))) ? true : undefined, SCAN_WAIT)
  const tag = Math.random().toString(36).slice(2, 8)

  t.test('200 parallel renames from separate processes all take effect', async t => {
    const ok = path.join(work, 'ok-1')
    const pairs = defaults.map((n, i): [string, string] => [path.join(mnt, n), path.join(mnt, `p${tag}-${i}`)])
    const t0 = Date.now()
    t.equal(await exited(burst(pairs, ok)), 0)
    t.comment(`200 mv processes in ${Date.now() - t0} ms`)
    t.equal(fs.readFileSync(ok, 'utf8').split('\n').filter(l => l !== '').length, 200, 'every mv succeeded')
    const table = names(state)
    t.same(pairs.filter(([, b]) => !table.has(`/${path.basename(b)}`)).map(([, b]) => path.basename(b)), [], 'every name is in the table')
    const listing = new Set(fs.readdirSync(mnt))
    t.same(pairs.filter(([, b]) => !listing.has(path.basename(b))).map(([, b]) => b), [], 'every name is served')
    t.notOk(defaults.some(n => listing.has(n)), 'no default name is left')
  })

  t.test('kill -9 during a burst: every rename that returned success is kept', async t => {
    const ok = path.join(work, 'ok-2')
    fs.writeFileSync(ok, '')
    const pairs = defaults.map((_, i): [string, string] => [path.join(mnt, `p${tag}-${i}`), path.join(mnt, `k${tag}-${i}`)])
    const sh = burst(pairs, ok)
    await waitFor('some renames to succeed', () => fs.readFileSync(ok, 'utf8').split('\n').length > 20 ? true : undefined, 20000, 1)
    await d.stop('SIGKILL')
    await exited(sh)
    const succeeded = fs.readFileSync(ok, 'utf8').split('\n').filter(l => l !== '').map(l => path.basename(l))
    t.comment(`${succeeded.length} of 200 renames had succeeded when the daemon was killed`)
    const file = readOverlayFile(path.join(state, STATE_FILE))
    t.ok(file !== undefined, 'the table parses')
    const table = names(state)
    t.same(succeeded.filter(n => !table.has(`/${n}`)), [], 'every successful rename is in the table')
    t.equal(table.size, 200, 'and each namespace is there once, by one of its names')
    d = await startDaemon(t, mnt, ['--seed', SEED, '--state-dir', state])
    const listing = new Set(fs.readdirSync(mnt))
    t.same(succeeded.filter(n => !listing.has(n)), [], 'and served after a restart')
    t.equal(await d.stop(), 0)
  })
})

t.test('a corrupt state file at start', { skip }, async t => {
  const mnt = tempDir(t)
  const state = stateDir(t)
  const file = path.join(state, STATE_FILE)
  fs.writeFileSync(file, '{"format": "nsfs-names", "version": 1, "bootId": "')
  const d = await startDaemon(t, mnt, ['--seed', SEED, '--state-dir', state])
  const aside = fs.readdirSync(state).find(n => n.startsWith(`${STATE_FILE}.corrupt-`))
  t.ok(aside !== undefined, 'moved aside')
  t.equal(fs.readFileSync(path.join(state, aside as string), 'utf8'), '{"format": "nsfs-names", "version": 1, "bootId": "', 'kept as it was')
  const line = d.stderr().split('\n').find(l => l.includes('moved it aside'))
  t.ok(line?.includes(file) === true && line.includes(path.join(state, aside as string)), `one line names both paths: ${line}`)
  t.ok(fs.readdirSync(mnt).includes('user'), 'serving, with an empty table')
  const r = run(process.execPath, [CLI, 'names', '--state-dir', state])
  t.equal(r.stdout, '', 'no names')
  const h = await startHolder(t, ['unshare', '--net'])
  const name = defaultOf(h.pid, 'net')
  await waitFor('the net entry', () => exists(path.join(mnt, name)), SCAN_WAIT)
  t.equal(run('mv', [path.join(mnt, name), path.join(mnt, 'fresh')]).status, 0)
  t.same([...names(state).keys()], ['/fresh'], 'a new table is written')
  t.equal(await d.stop(), 0)
  t.equal(run(process.execPath, [CLI, 'names', '--state-dir', path.join(state, 'nonexistent')]).status, 0, 'no file: no names, no error')
  fs.writeFileSync(file, 'garbage')
  const bad = run(process.execPath, [CLI, 'names', '--state-dir', state])
  t.equal(bad.status, 1, 'nsfs names on a corrupt file fails')
  t.match(bad.stderr, /cannot read the name table/)
  t.ok(fs.existsSync(file), 'and leaves it where it is')
})

t.test('two daemons cannot share a state directory', { skip }, async t => {
  const state = stateDir(t)
  const d = await startDaemon(t, tempDir(t), ['--seed', SEED, '--state-dir', state])
  const other = tempDir(t)
  const r = run(process.execPath, [CLI, 'mount', '--foreground', other, '--state-dir', state])
  t.equal(r.status, 1)
  t.match(r.stderr, /in use by another nsfs daemon/)
  t.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  t.equal(d.child.exitCode, null, 'the first one serves on')
  t.equal(await d.stop(), 0)
  const again = await startDaemon(t, other, ['--seed', SEED, '--state-dir', state])
  t.equal(await again.stop(), 0, 'free once the first one stopped')
})
