// Names across a checkpoint/restore, end to end: a container stand-in
// (its own user, pid, net, uts and mount namespaces, with a nested user
// namespace that has its own net) renamed, exported, killed, started again
// and imported, through a real mount, as a checkpoint/restore tool would.
import t from 'tap'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { CLI, exited, kernelSkipReason, run, startDaemon, stateDir, tempDir, waitFor, walk } from './lib/harness.js'

const skip = kernelSkipReason()
const SCAN_WAIT = 60000

interface Container {
  // Host pids of its pid 1 and pid 2.
  init: number
  nested: number
  // ns inode → its role ('1:net', '2:user', …).
  roles: Map<number, string>
  kill: () => Promise<void>
}

function children (pid: number): number[] {
  const r = run('pgrep', ['-P', String(pid)])
  return r.stdout.split('\n').filter(l => l !== '').map(Number)
}

function comm (pid: number): string | undefined {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() } catch { return undefined }
}

// A directory stands for its user namespace, whose handle is its `user`.
const inoOf = (p: string): number => fs.statSync(fs.lstatSync(p).isDirectory() ? path.join(p, 'user') : p).ino

async function startContainer (t: { teardown: (fn: () => Promise<void>) => void }): Promise<Container> {
  const child = spawn('unshare', ['-Ur', '-p', '-n', '-u', '-m', '--fork', '--kill-child', 'sh', '-c', 'unshare -Ur -n sleep 3600 & exec sleep 3600'], { stdio: 'ignore' })
  // unshare ignores SIGTERM while it waits; --kill-child takes the rest along.
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGKILL')
    await exited(child)
  }
  t.teardown(kill)
  const up = child.pid as number
  const init = await waitFor('the container\'s init', () => children(up).find(p => comm(p) === 'sleep'))
  const nested = await waitFor('its nested process', () => children(init).find(p => comm(p) === 'sleep'))
  const roles = new Map<number, string>()
  for (const [cpid, pid, types] of [[1, init, ['user', 'net', 'uts', 'mnt', 'pid']], [2, nested, ['user', 'net']]] as const) {
    for (const type of types) roles.set(inoOf(`/proc/${pid}/ns/${type}`), `${cpid}:${type}`)
  }
  return { init, nested, roles, kill }
}

// Each entry below `dir` (relative path) with the role of the namespace it
// opens now.
function layout (dir: string, c: Container): Map<string, string> {
  const out = new Map<string, string>()
  for (const rel of walk(dir)) {
    if (path.basename(rel) === '.nsfs.json') continue
    out.set(rel, c.roles.get(inoOf(path.join(dir, rel))) ?? 'elsewhere')
  }
  return out
}

const nsfs = (...args: string[]): ReturnType<typeof run> => run(process.execPath, [CLI, ...args])

function lines (s: string): string[] {
  return s.split('\n').filter(l => l !== '')
}

t.test('a renamed container comes back under the same paths after a restore', { skip }, async t => {
  const mnt = tempDir(t)
  const state = stateDir(t)
  const runDir = stateDir(t, 'nsfs-run-')
  const files = tempDir(t, 'nsfs-export-')
  t.teardown(() => { for (const f of fs.readdirSync(files)) fs.rmSync(path.join(files, f)) })
  const daemonArgs = ['--state-dir', state, '--run-dir', runDir]
  let d = await startDaemon(t, mnt, daemonArgs)
  const importArgs = ['--mount', mnt, '--run-dir', runDir]

  const first = await startContainer(t)
  const userIno = inoOf(`/proc/${first.init}/ns/user`)
  const dirName = await waitFor('the container\'s directory', () => fs.readdirSync(mnt).find(n => {
    try { return n !== 'user' && inoOf(path.join(mnt, n)) === userIno } catch { return false }
  }), SCAN_WAIT)
  const at = (role: string, dir: string): string => {
    const name = fs.readdirSync(dir).find(n => n !== 'user' && first.roles.get(inoOf(path.join(dir, n))) === role)
    if (name === undefined) throw new Error(`no ${role} in ${dir}`)
    return path.join(dir, name)
  }
  const ctr = path.join(mnt, 'ctr')
  t.equal(run('mv', [path.join(mnt, dirName), ctr]).status, 0)
  t.equal(run('mv', [at('1:net', ctr), path.join(ctr, 'web-net')]).status, 0)
  await waitFor('the nested directory', () => { try { return at('2:user', ctr) } catch { return undefined } }, SCAN_WAIT)
  t.equal(run('mv', [at('2:user', ctr), path.join(ctr, 'inner')]).status, 0)
  await waitFor('the nested net', () => { try { return at('2:net', path.join(ctr, 'inner')) } catch { return undefined } }, SCAN_WAIT)
  const before = layout(ctr, first)
  t.same([...before.values()].filter(r => r === 'elsewhere'), [], 'every entry is the container\'s')
  t.ok(before.get('web-net') === '1:net' && before.get('inner') === '2:user', 'renamed as asked')

  const file = path.join(files, 'ctr.json')
  const exp = nsfs('names', 'export', ctr, '-o', file)
  t.equal(exp.status, 0, exp.stderr)
  t.match(exp.stderr, /note: cgroup is shared with the host/, 'shared namespaces are marked external')
  t.equal(fs.statSync(file).mode & 0o777, 0o600)
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { namespaces: Array<{ path: string, locator: unknown }>, external: Array<{ type: string }> }
  t.same(doc.namespaces.map(n => n.path).sort(), [...before.keys()].filter(p => path.basename(p) !== 'user').sort(), 'every namespace below, by its path')
  t.ok(doc.external.some(e => e.type === 'cgroup'))

  // The checkpoint ends the container; the restore starts it again.
  await first.kill()
  await waitFor('the old container to leave the tree', () => fs.existsSync(ctr) ? undefined : true, SCAN_WAIT)
  const second = await startContainer(t)
  const imp = nsfs('names', 'import', file, '--pid', String(second.init), ...importArgs)
  t.equal(imp.status, 0, imp.stderr)
  t.same(lines(imp.stdout).sort(), [ctr, ...doc.namespaces.map(n => path.join(ctr, n.path))].sort(), 'prints where each shows')
  t.same(layout(ctr, second), before, 'every path as before, each opening the new namespace of the same role')
  const enter = run('nsenter', [`--net=${path.join(ctr, 'web-net')}`, 'readlink', '/proc/self/ns/net'])
  t.equal(enter.stdout.trim(), fs.readlinkSync(`/proc/${second.init}/ns/net`), enter.stderr)
  const names = nsfs('names', '--json', '--state-dir', state)
  const table = JSON.parse(names.stdout) as Array<{ path: string }>
  t.same(table.map(e => e.path).sort(), [ctr, ...doc.namespaces.map(n => path.join(ctr, n.path))].map(p => p.slice(mnt.length)).sort(), 'every imported name is in the table')

  // The same dump restored a second time.
  const third = await startContainer(t)
  const tableBefore = fs.readFileSync(path.join(state, 'names.json'), 'utf8')
  const twice = nsfs('names', 'import', file, '--pid', String(third.init), ...importArgs)
  t.equal(twice.status, 1)
  t.equal(lines(twice.stderr).length, 1, twice.stderr)
  t.match(twice.stderr, /import refused, nothing changed: \/ctr exists/)
  t.equal(fs.readFileSync(path.join(state, 'names.json'), 'utf8'), tableBefore, 'the table is untouched')
  t.same(layout(ctr, second), before, 'so is the first copy')
  const as = nsfs('names', 'import', file, '--pid', String(third.init), '--as', 'ctr2', ...importArgs)
  t.equal(as.status, 0, as.stderr)
  t.same(layout(path.join(mnt, 'ctr2'), third), before, 'the second copy under its own name')

  t.test('bad files and bad usage change nothing', async t => {
    const bad = (name: string, text: string): ReturnType<typeof run> => {
      const f = path.join(files, name)
      fs.writeFileSync(f, text)
      return nsfs('names', 'import', f, '--pid', String(third.init), '--as', 'ctr3', ...importArgs)
    }
    const text = fs.readFileSync(file, 'utf8')
    for (const [name, body, why] of [
      ['truncated.json', text.slice(0, text.length / 2), /not JSON \(truncated\?\)/],
      ['foreign.json', fs.readFileSync(path.join(state, 'names.json'), 'utf8'), /not an nsfs-names-export document/],
      ['newer.json', text.replace('"version": 1', '"version": 2'), /version 2 is newer/],
    ] as const) {
      const r = bad(name, body)
      t.equal(r.status, 1, name)
      t.equal(lines(r.stderr).length, 1, `${name}: one line`)
      t.match(r.stderr, why)
    }
    t.equal(nsfs('names', 'import', file, ...importArgs).status, 2, 'no --pid')
    t.equal(nsfs('names', 'import', file, '--pid', String(third.init), '--as', 'a/b', ...importArgs).status, 2, 'a bad --as')
    t.equal(nsfs('names', 'import', file, '--pid', String(process.pid), '--as', 'ctr3', ...importArgs).status, 1, 'a pid that is no container\'s init')
    t.equal(nsfs('names', 'export', path.join(ctr, 'web-net')).status, 1, 'an entry is no directory')
    t.equal(nsfs('names', 'export', files).status, 2, 'outside the tree')
    t.equal(nsfs('names', 'export').status, 2, 'no directory')
    t.notOk(fs.existsSync(path.join(mnt, 'ctr3')))
    t.equal(fs.readFileSync(path.join(state, 'names.json'), 'utf8').includes('ctr3'), false)
  })

  t.test('imported names are durable', async t => {
    t.equal(await d.stop(), 0)
    d = await startDaemon(t, mnt, daemonArgs)
    await waitFor('the restored container', () => fs.existsSync(path.join(ctr, 'web-net')) ? true : undefined, SCAN_WAIT)
    t.same(layout(ctr, second), before)
  })
})
