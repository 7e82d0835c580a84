// End to end: namespaces that no process is in — held by an open fd, by
// `ip netns add`, by a bind mount inside a private mount namespace, or alive
// only as the owner of another — appear in the right directory, open to the
// same namespace, carry their metadata, and vanish with their last holder.
import t from 'tap'
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CLI, kernelSkipReason, run, startDaemon, startHolder, tempDir, waitFor } from './lib/harness.js'

const skip = kernelSkipReason()
const SEED = '5eed4444'

interface Meta {
  key: string
  parent: string | null
  path: string | null
  type: string
  ino: number
  devIno: string
  ownerPath: string | null
  holders: Array<{ kind: string, path: string, pid?: number, fd?: number, mountPoint?: string }>
  foundBy: string[]
  netns: string[]
}

function inoOf (link: string): number {
  const m = /\[(\d+)\]/.exec(link)
  if (m === null) throw new Error(`not a namespace link: ${link}`)
  return Number(m[1])
}

// Every namespace the mounted tree's metadata files list, directory by
// directory (they are read, never stat'ed through the handles).
function treeMetadata (mnt: string): Meta[] {
  const out: Meta[] = []
  const visit = (dir: string): void => {
    let doc: { directory: Meta, entries: Meta[] }
    try {
      doc = JSON.parse(fs.readFileSync(path.join(mnt, dir, '.nsfs.json'), 'utf8'))
    } catch (err) {
      // The directory's user namespace died since its parent was read.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    if (dir === '/') out.push(doc.directory)
    for (const e of doc.entries) {
      out.push(e)
      if (e.type === 'user' && e.path !== null) visit(e.path)
    }
  }
  visit('/')
  return out
}

function metaOf (mnt: string, type: string, ino: number): Meta | undefined {
  return treeMetadata(mnt).find(m => m.type === type && m.ino === ino)
}

// dev:ino of what the kernel says the namespace is.
function kernelDevIno (nsPath: string): string {
  const st = fs.statSync(nsPath)
  return `${st.dev}:${st.ino}`
}

function readlinkOrNull (p: string): string | null {
  try { return fs.readlinkSync(p) } catch { return null }
}

// `stat -L` of an entry: the namespace it opens.
function statL (p: string): string {
  const r = run('stat', ['-L', '-c', '%d:%i', p])
  if (r.status !== 0) throw new Error(`stat -L ${p}: ${r.stderr}`)
  return r.stdout.trim()
}

// Waits until `rel` is gone from its directory listing; answers the ms taken.
async function vanishes (mnt: string, rel: string): Promise<number> {
  const t0 = Date.now()
  const dir = path.join(mnt, path.dirname(rel))
  await waitFor(`${rel} to vanish`, () => {
    try { return fs.readdirSync(dir).includes(path.basename(rel)) ? undefined : true } catch { return true }
  }, 3000)
  return Date.now() - t0
}

// A python3 process that holds a namespace only through an open fd, and
// prints `fd link` once it does.
async function fdHolder (t: { teardown: (fn: () => void) => void }, py: string, args: string[] = []): Promise<{ pid: number, fd: number, link: string, stop: () => void }> {
  const child = spawn('python3', ['-c', py, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const stop = (): void => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  t.teardown(stop)
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  const m = await waitFor('the fd holder', () => {
    if (child.exitCode !== null) throw new Error(`python3 exited with ${child.exitCode}`)
    return /^(\d+) (\S+)\n/.exec(out) ?? undefined
  })
  return { pid: child.pid as number, fd: Number(m[1]), link: m[2] as string, stop }
}

const UNSHARE_AND_RETURN = [
  'import ctypes, os, sys, time',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)',
  'if libc.unshare(0x40000000) != 0: sys.exit("unshare: " + os.strerror(ctypes.get_errno()))',
  'held = os.open("/proc/thread-self/ns/net", os.O_RDONLY)',
  'if libc.setns(orig, 0x40000000) != 0: sys.exit("setns: " + os.strerror(ctypes.get_errno()))',
  'os.close(orig)',
  'print(held, os.readlink(f"/proc/self/fd/{held}"), flush=True)',
  'time.sleep(3600)',
].join('\n')

const OPEN_AND_HOLD = [
  'import os, sys, time',
  'held = os.open(sys.argv[1], os.O_RDONLY)',
  'print(held, os.readlink(f"/proc/self/fd/{held}"), flush=True)',
  'time.sleep(3600)',
].join('\n')

// A pid namespace C held by an fd whose parent P has no process left: P
// is known only as C's parent (NS_GET_PARENT). The init of C sends its
// namespace over a unix socket; then P's init is killed, taking C's with it.
const PID_PARENT_ONLY = [
  'import ctypes, os, signal, socket, time',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'NEWPID = 0x20000000',
  'top, inner = socket.socketpair()',
  'r, w = os.pipe()',
  'pid1 = os.fork()',
  '# PR_SET_PDEATHSIG: nothing outlives the test\'s kill of this process.',
  'if pid1 == 0:',
  '    libc.prctl(1, 9)',
  '    if libc.unshare(NEWPID) != 0: os._exit(3)',
  '    p = os.fork()',
  '    if p == 0:',
  '        # init of the outer pid namespace P',
  '        libc.prctl(1, 9)',
  '        if libc.unshare(NEWPID) != 0: os._exit(4)',
  '        c = os.fork()',
  '        if c == 0:',
  '            libc.prctl(1, 9)',
  '            # init of the inner pid namespace C: hand its namespace out',
  '            fd = os.open("/proc/self/ns/pid", os.O_RDONLY)',
  '            socket.send_fds(inner, [b"x"], [fd])',
  '            time.sleep(3600)',
  '            os._exit(0)',
  '        os.waitpid(c, 0)',
  '        os._exit(0)',
  '    os.write(w, f"{p}\\n".encode())',
  '    os.waitpid(p, 0)',
  '    os._exit(0)',
  '_, fds, _, _ = socket.recv_fds(top, 1, 1)',
  'held = fds[0]',
  'p = int(os.read(r, 64).decode())',
  'os.kill(p, signal.SIGKILL)',
  'os.waitpid(pid1, 0)',
  'print(held, os.readlink(f"/proc/self/fd/{held}"), flush=True)',
  'time.sleep(3600)',
].join('\n')

t.test('namespaces no process is in', { skip }, async t => {
  const mnt = tempDir(t)
  const d = await startDaemon(t, mnt, ['--seed', SEED, '--log-level', 'debug'])

  t.test('a netns held only by an open fd', async t => {
    const h = await fdHolder(t, UNSHARE_AND_RETURN)
    t.not(fs.readlinkSync(`/proc/${h.pid}/ns/net`), h.link, 'the process itself went back')
    // A scan in the moment between unshare and setns saw the process in it
    // too; the next one, which re-reads the young process, must not.
    const meta = await waitFor('the fd-held netns, held by the fd alone', () => {
      const m = metaOf(mnt, 'net', inoOf(h.link))
      return m?.foundBy.includes('task') === false ? m : undefined
    }, 3000)
    t.match(meta.path, /^\/net-[0-9a-f]{12}$/, 'owned by the initial user namespace: at the root')
    t.same(meta.foundBy, ['fd'])
    t.same(meta.holders.map(x => [x.kind, x.pid, x.fd]), [['fd', h.pid, h.fd]])
    const entry = path.join(mnt, meta.path as string)
    t.equal(fs.readlinkSync(entry), `/proc/${h.pid}/fd/${h.fd}`)
    t.equal(statL(entry), kernelDevIno(`/proc/${h.pid}/fd/${h.fd}`), 'opens to the same namespace')
    t.equal(meta.devIno, kernelDevIno(`/proc/${h.pid}/fd/${h.fd}`))
    const ip = run('nsenter', [`--net=${entry}`, 'ip', '-o', 'link'])
    t.equal(ip.status, 0, ip.stderr)
    t.match(ip.stdout, /^1: lo:/)
    h.stop()
    const ms = await vanishes(mnt, meta.path as string)
    t.ok(ms <= 1000, `gone ${ms} ms after its last holder`)
  })

  t.test('a netns held only by `ip netns add`', async t => {
    const name = `nsfs-test-${crypto.randomBytes(4).toString('hex')}`
    t.equal(run('ip', ['netns', 'add', name]).status, 0)
    t.teardown(() => { run('ip', ['netns', 'del', name]) })
    const ino = inoOf(`net:[${fs.statSync(`/run/netns/${name}`).ino}]`)
    const meta = await waitFor('the ip-netns netns', () => metaOf(mnt, 'net', ino), 3000)
    t.match(meta.path, /^\/net-[0-9a-f]{12}$/, 'shown under its default name, at the root')
    t.same(meta.netns, [name], 'the name ip gave it is in the metadata')
    t.ok(meta.foundBy.includes('mount'))
    const entry = path.join(mnt, meta.path as string)
    t.equal(fs.readlinkSync(entry), `/run/netns/${name}`, 'the handle is the bind mount')
    t.equal(statL(entry), kernelDevIno(`/run/netns/${name}`))
    const ls = run(process.execPath, [CLI, 'ls', '--seed', SEED, meta.path as string])
    t.equal(ls.status, 0, ls.stderr)
    t.match(ls.stdout, new RegExp(`^${ino}\\s+net\\s+0\\s+-\\s+-\\s+${name}\\s+-\\s+mount\\s+${meta.path as string}`, 'm'), 'nsfs ls shows it like lsns would, with its name')
    t.equal(run('ip', ['netns', 'del', name]).status, 0)
    const ms = await vanishes(mnt, meta.path as string)
    t.ok(ms <= 1000, `gone ${ms} ms after ip netns del`)
  })

  t.test('a netns bind-mounted inside a private mount namespace', async t => {
    const net = await startHolder(t, ['unshare', '--net'])
    const file = path.join(os.tmpdir(), `nsfs-bind-${crypto.randomBytes(4).toString('hex')}`)
    fs.writeFileSync(file, '')
    t.teardown(() => { try { fs.unlinkSync(file) } catch {} })
    const kernel = kernelDevIno(`/proc/${net.pid}/ns/net`)
    const ino = inoOf(net.ns('net'))
    const pinner = await startHolder(t, ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" "$1" && exec "$2" "$3"', `/proc/${net.pid}/ns/net`, file])
    await net.stop()
    t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(file), 'the bind mount is not in our mount namespace')
    const meta = await waitFor('the bind-mounted netns', () => {
      const m = metaOf(mnt, 'net', ino)
      return m !== undefined && !m.foundBy.includes('task') ? m : undefined
    }, 3000).catch(err => { t.comment(d.stderr().split('\n').filter(l => !l.includes('discovery:')).slice(-15).join('\n')); t.comment(JSON.stringify(metaOf(mnt, 'net', ino))); throw err })
    t.same(meta.foundBy, ['mount'])
    t.match(meta.path, /^\/net-[0-9a-f]{12}$/)
    const entry = path.join(mnt, meta.path as string)
    t.equal(fs.readlinkSync(entry), `/proc/${pinner.pid}/root${file}`, 'reached through the mount namespace\'s /proc/PID/root')
    t.equal(statL(entry), kernel, 'opens to the same namespace')
    await pinner.stop()
    const ms = await vanishes(mnt, meta.path as string)
    t.ok(ms <= 1000, `gone ${ms} ms after its mount namespace ended`)
  })

  t.test('a user namespace alive only as the owner of a live netns', async t => {
    const inner = await startHolder(t, ['unshare', '--user', '--map-root-user', '--net'])
    const userIno = inoOf(inner.ns('user'))
    const h = await fdHolder(t, OPEN_AND_HOLD, [`/proc/${inner.pid}/ns/net`])
    await inner.stop()
    const user = await waitFor('the owner-only user namespace', () => {
      const m = metaOf(mnt, 'user', userIno)
      return m !== undefined && m.holders.length === 0 ? m : undefined
    }, 3000)
    t.match(user.path, /^\/user-[0-9a-f]{12}$/, 'a directory at the root')
    t.same(user.foundBy, ['parent'])
    const dir = path.join(mnt, user.path as string)
    t.ok(fs.statSync(dir).isDirectory())
    t.notOk(fs.readdirSync(dir).includes('user'), 'no handle of its own')
    const net = metaOf(mnt, 'net', inoOf(h.link))
    t.equal(net?.ownerPath, user.path, 'its netns is listed in its directory')
    t.match(net?.path, new RegExp(`^${user.path as string}/net-[0-9a-f]{12}$`))
    t.equal(statL(path.join(mnt, net?.path as string)), kernelDevIno(`/proc/${h.pid}/fd/${h.fd}`))
    h.stop()
    const ms = await vanishes(mnt, user.path as string)
    t.ok(ms <= 1000, `the user namespace is gone ${ms} ms after its last netns`)
  })

  t.test('a time namespace held only as time_for_children', async t => {
    const py = [
      'import ctypes, os, sys, time',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'if libc.unshare(0x80) != 0: sys.exit("unshare: " + os.strerror(ctypes.get_errno()))',
      'print(0, os.readlink("/proc/self/ns/time_for_children"), flush=True)',
      'time.sleep(3600)',
    ].join('\n')
    const h = await fdHolder(t, py)
    t.not(fs.readlinkSync(`/proc/${h.pid}/ns/time`), h.link, 'the process itself is not in it')
    const meta = await waitFor('the time namespace', () => metaOf(mnt, 'time', inoOf(h.link)), 3000)
    t.same(meta.foundBy, ['for-children'])
    t.match(meta.path, /^\/time-[0-9a-f]{12}$/)
    const entry = path.join(mnt, meta.path as string)
    t.equal(fs.readlinkSync(entry), `/proc/${h.pid}/ns/time_for_children`)
    t.equal(statL(entry), kernelDevIno(`/proc/${h.pid}/ns/time_for_children`))
    h.stop()
    const ms = await vanishes(mnt, meta.path as string)
    t.ok(ms <= 1000, `gone ${ms} ms after its process`)
  })

  t.test('a pid namespace known only as the parent of an fd-held one', async t => {
    const h = await fdHolder(t, PID_PARENT_ONLY)
    // Its init's exit is taken in within milliseconds of the fd holder's word.
    const child = await waitFor('the fd-held pid namespace', () => {
      const m = metaOf(mnt, 'pid', inoOf(h.link))
      return m !== undefined && !m.foundBy.includes('task') ? m : undefined
    }, 3000)
    t.same(child.foundBy, ['fd'])
    t.match(child.path, /^\/pid-[0-9a-f]{12}$/)
    t.equal(statL(path.join(mnt, child.path as string)), kernelDevIno(`/proc/${h.pid}/fd/${h.fd}`))
    const parentKey = child.parent
    t.not(parentKey, null, 'it names its parent')
    const parent = treeMetadata(mnt).find(m => m.key === parentKey)
    t.match(parent, { type: 'pid', path: null, foundBy: ['parent'], holders: [], ownerPath: '/' }, 'the parent: in the root directory\'s metadata, not in the tree')
    t.notOk(fs.readdirSync(mnt).some(n => n.startsWith('pid-') && readlinkOrNull(path.join(mnt, n)) === null), 'no dangling entry in the tree')
    h.stop()
    const t0 = Date.now()
    await waitFor('both to vanish', () => treeMetadata(mnt).some(m => m.key === parentKey || m.ino === child.ino) ? undefined : true, 3000)
    t.ok(Date.now() - t0 <= 1000, `both gone ${Date.now() - t0} ms after the fd closed`)
  })

  t.test('nsfs ls --json agrees with the mounted tree and lsns', async t => {
    // Held for the duration, so that all three views have something of ours.
    const h = await fdHolder(t, UNSHARE_AND_RETURN)
    await waitFor('the fd-held netns', () => metaOf(mnt, 'net', inoOf(h.link)), 3000)
    const lsnsBefore = lsnsKeys()
    const ls = run(process.execPath, [CLI, 'ls', '--json', '--seed', SEED])
    t.equal(ls.status, 0, ls.stderr)
    const fromLs = new Map<string, Meta & { ns: number }>()
    for (const m of (JSON.parse(ls.stdout) as { namespaces: Array<Meta & { ns: number }> }).namespaces) fromLs.set(`${m.type}:${m.ino}`, m)
    const fromTree = new Map(treeMetadata(mnt).map(m => [`${m.type}:${m.ino}`, m]))
    const lsnsAfter = lsnsKeys()
    const stable = [...lsnsBefore].filter(k => lsnsAfter.has(k))
    t.ok(stable.length >= 8, `${stable.length} namespaces lsns printed twice`)
    t.same(stable.filter(k => !fromLs.has(k)), [], 'every namespace lsns prints is in nsfs ls')
    t.same(stable.filter(k => !fromTree.has(k)), [], 'every namespace lsns prints is in the mounted tree')
    const mine = `net:${inoOf(h.link)}`
    t.ok(fromLs.has(mine) && fromTree.has(mine), 'the fd-held netns (which lsns cannot see) is in both')
    const differ = [...fromLs].filter(([k, m]) => {
      const other = fromTree.get(k)
      return other !== undefined && (other.path !== m.path || other.devIno !== m.devIno)
    }).map(([k]) => k)
    t.same(differ, [], 'same paths and identities in both')
    t.same([...fromLs.values()].filter(m => m.ns !== m.ino).map(m => m.key), [], 'ns is the inode, as in lsns')
  })

  t.test('the metadata file is a read-only snapshot', async t => {
    const fd = fs.openSync(path.join(mnt, '.nsfs.json'), 'r')
    t.teardown(() => { try { fs.closeSync(fd) } catch {} })
    const first = Buffer.alloc(64)
    const n = fs.readSync(fd, first, 0, 64, 0)
    t.equal(n, 64)
    t.equal(first.subarray(0, 13).toString(), '{"directory":')
    const whole = JSON.parse(fs.readFileSync(path.join(mnt, '.nsfs.json'), 'utf8')) as { directory: Meta }
    t.equal(whole.directory.devIno, `${fs.statSync('/proc/self/ns/user').dev}:${fs.statSync('/proc/self/ns/user').ino}`, 'the root directory is our user namespace')
    t.throws(() => fs.openSync(path.join(mnt, '.nsfs.json'), 'r+'), { code: 'EROFS' })
    t.ok(fs.readdirSync(mnt).includes('.nsfs.json'), 'listed, hidden by its dot')
    t.equal(fs.statSync(path.join(mnt, '.nsfs.json')).mode & 0o777, 0o444)
    t.equal(d.child.exitCode, null, 'daemon still running')
  })
})

// `type:ino` of every namespace `lsns -J` prints.
function lsnsKeys (): Set<string> {
  const r = run('lsns', ['-J'])
  if (r.status !== 0) throw new Error(`lsns: ${r.stderr}`)
  const doc = JSON.parse(r.stdout) as { namespaces: Array<{ ns: number, type: string }> }
  return new Set(doc.namespaces.map(n => `${n.type}:${n.ns}`))
}
