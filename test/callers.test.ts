// Each caller sees what the kernel lets it see: real callers against a real
// mount, each after root has walked the whole tree (warm kernel caches).
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { CLI, kernelSkipReason, run, startDaemon, startHolder, stateDir, tempDir, waitFor, walk } from './lib/harness.js'

const skip = kernelSkipReason()
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']

function as (wrap: string[], cmd: string[]): { status: number | null, stdout: string, stderr: string } {
  const [c, ...args] = [...wrap, ...cmd]
  return run(c as string, args)
}

function pathsOf (mnt: string, ino: number): string[] {
  return walk(mnt).filter(p => { try { return fs.statSync(path.join(mnt, p)).ino === ino } catch { return false } })
}

const inoOf = (link: string): number => Number(/\[(\d+)\]/.exec(fs.readlinkSync(link))?.[1])

t.test('callers see what listns(2) would list for them, after root warmed the caches', { skip }, async t => {
  const mnt = tempDir(t)
  fs.chmodSync(mnt, 0o755)
  await startDaemon(t, mnt)
  const privateNet = await startHolder(t, ['unshare', '--net'])
  const mine = await startHolder(t, [...NOBODY, 'unshare', '-Urn'])
  const secret = await waitFor('root to see the private netns', () => pathsOf(mnt, inoOf(`/proc/${privateNet.pid}/ns/net`))[0])
  const [ownNet] = await waitFor('root to see nobody\'s netns', () => { const p = pathsOf(mnt, inoOf(`/proc/${mine.pid}/ns/net`)); return p.length > 0 ? p : undefined })
  // Root walks everything: entries, attributes and targets now cached.
  for (const p of walk(mnt)) { fs.lstatSync(path.join(mnt, p)); try { fs.readlinkSync(path.join(mnt, p)) } catch {} }
  const rootFiles = Number(as([], ['stat', '-f', '-c', '%c', mnt]).stdout)

  t.test('uid 65534 sees and enters its own namespaces, nothing of root\'s', async t => {
    const ls = as(NOBODY, ['find', mnt])
    t.equal(ls.status, 0, ls.stderr)
    t.notMatch(ls.stdout, path.basename(secret), 'root\'s private netns is not listed')
    t.match(ls.stdout, ownNet as string)
    const guessed = as(NOBODY, ['stat', '-L', path.join(mnt, secret)])
    t.not(guessed.status, 0, 'a name root saw is no way in')
    t.match(guessed.stderr, /No such file/)
    const link = as(NOBODY, ['readlink', path.join(mnt, ownNet as string)])
    t.equal(link.stdout.trim(), `/proc/${mine.pid}/ns/net`, 'a holder it may open itself')
    const userDir = path.dirname(path.join(mnt, ownNet as string))
    const enter = as(NOBODY, ['nsenter', '--preserve-credentials', `--user=${userDir}/user`, `--net=${path.join(mnt, ownNet as string)}`, 'readlink', '/proc/self/ns/net'])
    t.equal(enter.stdout.trim(), fs.readlinkSync(`/proc/${mine.pid}/ns/net`), enter.stderr)
    const meta = as(NOBODY, ['cat', path.join(mnt, '.nsfs.json')])
    t.notMatch(meta.stdout, `/proc/${privateNet.pid}/`, 'no holder of root\'s in the metadata')
    t.notMatch(meta.stdout, '"pid":2,', 'not even kthreadd')
    const files = Number(as(NOBODY, ['stat', '-f', '-c', '%c', mnt]).stdout)
    t.ok(files > 0 && files < rootFiles, `statfs counts what it sees (${files} of ${rootFiles})`)
    const mv = as(NOBODY, ['mv', path.join(mnt, secret), path.join(mnt, 'mine')])
    t.not(mv.status, 0)
    const ls2 = as(NOBODY, [process.execPath, CLI, 'ls', mnt, '--json'])
    t.equal(ls2.status, 0, ls2.stderr)
    const listed = (JSON.parse(ls2.stdout) as { namespaces: Array<{ path: string | null }> }).namespaces.map(n => n.path)
    t.ok(listed.includes(`/${ownNet as string}`), 'nsfs ls shows what the mount shows')
    t.notOk(listed.includes(`/${secret}`))
  })

  t.test('root in a fresh unshare -Ur is not root of the host', async t => {
    const r = as(['unshare', '-Ur'], ['find', mnt])
    t.equal(r.status, 0, r.stderr)
    t.notMatch(r.stdout, path.basename(secret))
    t.notMatch(r.stdout, ownNet as string, 'nor of other users\' user namespaces')
  })

  t.test('a process in a child user namespace sees its own namespaces there', async t => {
    // Its namespaces are new: discovery takes them in within milliseconds
    // of its exec, so it looks again for up to 2 s.
    const script = [
      'own=$(readlink /proc/self/ns/net); echo "$own"; ino=${own#net:[}; ino=${ino%]}',
      `for i in $(seq 40); do seen=$(find ${mnt} -name 'net-*' -exec stat -L -c '%i' {} +); case " $(echo $seen) " in *" $ino "*) break;; esac; sleep 0.05; done`,
      'echo "$seen"',
    ].join('\n')
    const r = as(['unshare', '-Ur', '--net'], ['sh', '-c', script])
    const [own, ...seen] = r.stdout.trim().split('\n')
    t.ok(own !== undefined && seen.includes(String(Number(/\[(\d+)\]/.exec(own)?.[1]))), r.stdout + r.stderr)
  })
})

t.test('--userns mounts one user namespace\'s subtree as the root', { skip }, async t => {
  const mnt = tempDir(t)
  const outer = await startHolder(t, ['unshare', '-Ur', 'unshare', '--net', '--uts'])
  const other = await startHolder(t, ['unshare', '--net'])
  await startDaemon(t, mnt, ['--userns', `/proc/${outer.pid}/ns/user`])
  const names = fs.readdirSync(mnt).filter(n => !n.startsWith('.')).sort()
  t.same(names.map(n => n.replace(/-[0-9a-f]+$/, '')), ['containers', 'net', 'user', 'uts'])
  t.equal(fs.statSync(path.join(mnt, 'user')).ino, inoOf(`/proc/${outer.pid}/ns/user`))
  t.notOk(walk(mnt).some(p => { try { return fs.statSync(path.join(mnt, p)).ino === inoOf(`/proc/${other.pid}/ns/net`) } catch { return false } }), 'nothing from outside it')
  const bad = run(process.execPath, [CLI, 'mount', tempDir(t), '--userns', `/proc/${outer.pid}/ns/net`, '--state-dir', stateDir(t)])
  t.equal(bad.status, 1)
  t.match(bad.stderr, /--userns wants a user namespace/)
})
