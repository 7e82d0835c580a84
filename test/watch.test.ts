// `nsfs watch`: a line per change, as it happens, for what the caller may see.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { CLI, exited, kernelSkipReason, run, startDaemon, startHolder, stateDir, tempDir, waitFor } from './lib/harness.js'

const skip = kernelSkipReason()
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']

interface Watcher { child: ChildProcess, out: () => string, err: () => string }

function startWatch (t: Test, args: string[], wrap: string[] = []): Watcher {
  const [cmd, ...pre] = [...wrap, process.execPath]
  // Without tap's loaders: a watcher that is not root could not write their files.
  const { NODE_OPTIONS: _, ...env } = process.env
  const child = spawn(cmd as string, [...pre, CLI, 'watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  t.teardown(async () => { child.kill('SIGKILL'); await exited(child) })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { err += s })
  return { child, out: () => out, err: () => err }
}

interface Rec { event: string, type: string, path: string | null, from?: string, holders: string[] }
const records = (w: Watcher): Rec[] => w.out().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Rec)

t.test('each kind of change, as it happens, and only for whoever may see it', { skip }, async t => {
  const mnt = tempDir(t)
  const runDir = stateDir(t, 'nsfs-run-')
  // As /run/nsfs.d is: every user may reach the socket.
  fs.chmodSync(runDir, 0o755)
  const d = await startDaemon(t, mnt, ['--run-dir', runDir, '--log-level', 'debug'])
  const rootJson = startWatch(t, [mnt, '--json', '--run-dir', runDir])
  const rootText = startWatch(t, [mnt, '--run-dir', runDir])
  const nobody = startWatch(t, [mnt, '--json', '--run-dir', runDir], NOBODY)
  await waitFor('the watchers to connect', () => d.stderr().split('\n').filter(l => l.includes('watch: pid')).length === 3 ? true : undefined, 20000)

  const h = await startHolder(t, ['unshare', '--net'])
  const appeared = await waitFor('appeared', () => records(rootJson).find(r => r.event === 'appeared' && r.type === 'net'))
  t.same(appeared.holders, [`/proc/${h.pid}/ns/net`])
  const entry = path.join(mnt, appeared.path as string)
  fs.renameSync(entry, path.join(mnt, 'web'))
  const renamed = await waitFor('renamed', () => records(rootJson).find(r => r.event === 'renamed'))
  t.same([renamed.from, renamed.path], [appeared.path, '/web'])
  const second = await startHolder(t, ['nsenter', `--net=/proc/${h.pid}/ns/net`])
  const holders = await waitFor('holders', () => records(rootJson).find(r => r.event === 'holders'))
  t.same(holders.holders.sort(), [`/proc/${h.pid}/ns/net`, `/proc/${second.pid}/ns/net`].sort())
  await second.stop()
  await h.stop()
  const died = await waitFor('died', () => records(rootJson).find(r => r.event === 'died'))
  t.equal(died.path, '/web')

  // Its own: an unprivileged user namespace with a net namespace in it.
  const mine = await startHolder(t, [...NOBODY, 'unshare', '-Urn'])
  const own = await waitFor('the caller\'s own namespaces', () => {
    const rs = records(nobody).filter(r => r.event === 'appeared')
    return rs.length >= 2 ? rs : undefined
  })
  t.same(own.map(r => r.type).sort(), ['net', 'user'])
  t.ok(own.every(r => r.holders.every(p => p === `/proc/${mine.pid}/ns/${r.type}`)), 'holders it can open itself')
  await waitFor('root to see them too', () => records(rootJson).filter(r => r.event === 'appeared').length >= 3 ? true : undefined)
  t.notOk(records(nobody).some(r => r.path === '/web' || r.path === appeared.path), 'nothing of root\'s private namespace')

  const text = rootText.out()
  t.match(text, new RegExp(`^appeared net ${appeared.path} /proc/${h.pid}/ns/net$`, 'm'))
  t.match(text, new RegExp(`^renamed net ${appeared.path} -> /web$`, 'm'))
  t.match(text, /^holders net \/web \/proc\/\d+\/ns\/net \/proc\/\d+\/ns\/net$/m)
  t.match(text, /^died net \/web$/m)

  await mine.stop()
  t.equal(await d.stop(), 0)
  t.equal(await exited(rootJson.child), 1, 'a daemon that stops ends the watch')
  t.match(rootJson.err(), /stopped/)
})

t.test('bad input gets one line and exit status 2', { skip }, async t => {
  const mnt = tempDir(t)
  const runDir = stateDir(t, 'nsfs-run-')
  await startDaemon(t, mnt, ['--run-dir', runDir])
  for (const args of [['/etc'], ['--frob', mnt], [path.join(mnt, 'no-such-dir')], [mnt, mnt]]) {
    const r = run(process.execPath, [CLI, 'watch', ...args, '--run-dir', runDir])
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    t.equal(r.stdout, '')
  }
  const other = stateDir(t, 'nsfs-run-')
  const r = run(process.execPath, [CLI, 'watch', mnt, '--run-dir', other])
  t.equal(r.status, 1, 'no daemon behind that run directory')
  t.match(r.stderr, /cannot reach the daemon/)
})
