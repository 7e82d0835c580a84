// Discovery that follows the kernel's events: processes that change
// namespace without exec (young and old), exits, lost events, a connector
// that cannot be had, and handles that never lead to another namespace.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import t, { type Test } from 'tap'
import { escapePath } from '../src/daemon/status.js'
import { exited, kernelSkipReason, startDaemon, startHolder, stateDir, tempDir, waitFor, walk } from './lib/harness.js'

const skip = kernelSkipReason()

// A python process that obeys lines on stdin: `unshare FLAGS`,
// `setns PATH`, `hold PATH` (opens it, keeps the fd), `reap PID`,
// answering each with `ok` once done; `fork -` answers the pid of a child
// that waits to be killed. It never execs.
const MOVER = `
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
held = []
print('ready', flush=True)
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == 'unshare':
        rc = libc.unshare(int(arg))
    elif cmd == 'hold':
        held.append(os.open(arg, os.O_RDONLY))
        rc = 0
    elif cmd == 'fork':
        pid = os.fork()
        if pid == 0:
            while True:
                signal.pause()
        print(pid, flush=True)
        continue
    elif cmd == 'reap':
        os.waitpid(int(arg), 0)
        rc = 0
    else:
        fd = os.open(arg, os.O_RDONLY)
        rc = libc.setns(fd, 0)
        os.close(fd)
    print('ok' if rc == 0 else 'err %d' % ctypes.get_errno(), flush=True)
`
const CLONE_NEWUTS = 0x04000000
const CLONE_NEWNET = 0x40000000

interface Mover { pid: number, ask: (line: string) => Promise<string>, child: ChildProcess }

async function startMover (t: Test, prefix: string[] = []): Promise<Mover> {
  const [cmd, ...args] = [...prefix, 'python3', '-c', MOVER]
  const child = spawn(cmd as string, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(async () => { child.kill('SIGKILL'); await exited(child) })
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]()
  const next = async (): Promise<string> => String((await lines.next()).value)
  t.equal(await next(), 'ready')
  return {
    pid: child.pid as number,
    child,
    ask: async line => { child.stdin?.write(`${line}\n`); return await next() },
  }
}

// The tree paths whose entry opens the namespace of inode `ino` (stat -L).
function entriesOf (mnt: string, ino: number): string[] {
  return walk(mnt).filter(p => { try { return fs.statSync(path.join(mnt, p)).ino === ino } catch { return false } })
}

function inoOf (link: string): number {
  return Number(/\[(\d+)\]/.exec(fs.readlinkSync(link))?.[1])
}

function statusOf (run: string, mnt: string): { discovery?: string } {
  return JSON.parse(fs.readFileSync(path.join(run, `${escapePath(mnt)}.json`), 'utf8')) as { discovery?: string }
}

t.test('a process that unshares twice without exec is seen both times', { skip }, async t => {
  const mnt = tempDir(t)
  const run = stateDir(t, 'nsfs-run-')
  await startDaemon(t, mnt, ['--run-dir', run, '-o', 'sweep_s=1'])
  t.equal(statusOf(run, mnt).discovery, 'events')
  const m = await startMover(t)
  // Young: right after it started.
  t.equal(await m.ask(`unshare ${CLONE_NEWNET}`), 'ok')
  const net = inoOf(`/proc/${m.pid}/ns/net`)
  const young = Date.now()
  await waitFor('the young unshare to show', () => entriesOf(mnt, net).length === 1 ? true : undefined, 3000)
  t.ok(Date.now() - young < 1000, `young move seen in ${Date.now() - young} ms`)
  // Old: past every re-read of young processes; only the sweep finds it.
  await new Promise(resolve => setTimeout(resolve, 2500))
  t.equal(await m.ask(`unshare ${CLONE_NEWUTS}`), 'ok')
  const uts = inoOf(`/proc/${m.pid}/ns/uts`)
  const old = Date.now()
  await waitFor('the old unshare to show', () => entriesOf(mnt, uts).length === 1 ? true : undefined, 5000)
  t.ok(Date.now() - old < 3000, `old move seen in ${Date.now() - old} ms (sweep_s=1)`)
})

t.test('an exit drops the namespace at once; its handle opens nothing else', { skip }, async t => {
  const mnt = tempDir(t)
  await startDaemon(t, mnt)
  const h = await startHolder(t, ['unshare', '--net'])
  const ino = inoOf(`/proc/${h.pid}/ns/net`)
  const [entry] = await waitFor('the holder to show', () => { const e = entriesOf(mnt, ino); return e.length === 1 ? e : undefined })
  const p = path.join(mnt, entry as string)
  await h.stop()
  const died = Date.now()
  // Whatever the kernel still caches, the entry never opens another namespace.
  for (;;) {
    let now: number | undefined
    try { now = fs.statSync(p).ino } catch (err) { t.equal((err as NodeJS.ErrnoException).code, 'ENOENT'); break }
    t.equal(now, ino, 'still the same namespace, or nothing')
    if (Date.now() - died > 2000) { t.fail('the dead namespace still opens'); break }
  }
  await waitFor('the entry to be gone from the listing', () => fs.readdirSync(mnt).includes(path.basename(p)) ? undefined : true, 2000)
  t.ok(Date.now() - died < 500, `gone in ${Date.now() - died} ms`)
})

t.test("a child forked from a holder by fd holds the namespace at once, its fds a copy of its parent's", { skip }, async t => {
  const mnt = tempDir(t)
  // The sweep reads every process each 5 s tick: it finds the fd opened late.
  await startDaemon(t, mnt, ['-o', 'sweep_s=1'])
  const h = await startHolder(t, ['unshare', '--net'])
  const net = inoOf(`/proc/${h.pid}/ns/net`)
  const m = await startMover(t)
  t.equal(await m.ask(`hold /proc/${h.pid}/ns/net`), 'ok')
  const pidsOf = (): number[] => {
    const meta = JSON.parse(fs.readFileSync(path.join(mnt, '.nsfs.json'), 'utf8')) as { entries: Array<{ ino: number, pids: number[] }> }
    return meta.entries.find(e => e.ino === net)?.pids ?? []
  }
  await waitFor('the fd opened late to be found by the sweep', () => pidsOf().includes(m.pid) ? true : undefined, 12000)
  const child = Number(await m.ask('fork -'))
  const forked = Date.now()
  t.teardown(() => { try { process.kill(child, 'SIGKILL') } catch {} })
  // Read at its fork, not at the next tick of the sweep, seconds later.
  await waitFor('the child to hold it too', () => pidsOf().includes(child) ? true : undefined, 6000)
  t.ok(Date.now() - forked < 1000, `the child's fd seen in ${Date.now() - forked} ms`)
  process.kill(child, 'SIGKILL')
  t.equal(await m.ask(`reap ${child}`), 'ok')
})

t.test('a holder that moves away: its old entry leads to the other holder or nowhere', { skip }, async t => {
  const mnt = tempDir(t)
  await startDaemon(t, mnt)
  const m = await startMover(t, ['unshare', '--net'])
  const net = inoOf(`/proc/${m.pid}/ns/net`)
  const [entry] = await waitFor('the mover to show', () => { const e = entriesOf(mnt, net); return e.length === 1 ? e : undefined })
  const p = path.join(mnt, entry as string)
  t.equal(fs.readlinkSync(p), `/proc/${m.pid}/ns/net`, 'the mover holds it alone')
  const other = await startHolder(t, ['nsenter', `--net=/proc/${m.pid}/ns/net`])
  await waitFor('the second holder to be known', () => {
    const meta = JSON.parse(fs.readFileSync(path.join(mnt, '.nsfs.json'), 'utf8')) as { entries: Array<{ ino: number, pids: number[] }> }
    return meta.entries.find(e => e.ino === net)?.pids.includes(other.pid) === true ? true : undefined
  })
  // Warm the kernel's caches on the old target, then move the mover back
  // to the host's net namespace, by setns(2), which makes no event.
  fs.statSync(p)
  t.equal(await m.ask('setns /proc/2/ns/net'), 'ok')
  await new Promise(resolve => setTimeout(resolve, 10))
  t.equal(fs.statSync(p).ino, net, 'the entry still opens its own namespace, through the other holder')
  t.equal(fs.readlinkSync(p), `/proc/${other.pid}/ns/net`)
  // And with no holder left at all: nothing.
  await other.stop()
  await new Promise(resolve => setTimeout(resolve, 10))
  t.throws(() => fs.statSync(p), { code: 'ENOENT' })
})

t.test('a listing the kernel keeps shows a namespace that appears or dies at once', { skip }, async t => {
  const mnt = tempDir(t)
  await startDaemon(t, mnt)
  // Filled, then handed out from the kernel's copy for the next 5 s.
  fs.readdirSync(mnt)
  const kept = fs.readdirSync(mnt)
  const h = await startHolder(t, ['unshare', '--uts'])
  const ino = inoOf(`/proc/${h.pid}/ns/uts`)
  const born = Date.now()
  const [entry] = await waitFor('the new namespace to be listed', () => { const e = entriesOf(mnt, ino); return e.length === 1 ? e : undefined }, 3000)
  t.ok(Date.now() - born < 1000, `listed in ${Date.now() - born} ms`)
  t.notOk(kept.includes(entry as string), 'it was not there before')
  fs.readdirSync(mnt)
  await h.stop()
  const died = Date.now()
  await waitFor('the dead namespace to leave the listing', () => fs.readdirSync(mnt).includes(entry as string) ? undefined : true, 3000)
  t.ok(Date.now() - died < 1000, `gone in ${Date.now() - died} ms`)
})

t.test('lost events are made up for by a scan', { skip }, async t => {
  const mnt = tempDir(t)
  const d = await startDaemon(t, mnt, ['-o', 'event_buffer=4096'])
  // Thousands of forks and exits at once overflow a 4 KiB buffer.
  const burst = spawn('sh', ['-c', 'i=0; while [ $i -lt 3000 ]; do /bin/true & i=$((i+1)); done; wait'], { stdio: 'ignore' })
  t.teardown(async () => { burst.kill('SIGKILL'); await exited(burst) })
  await exited(burst)
  await waitFor('the overflow to be logged', () => d.stderr().includes('lost events (ENOBUFS)') ? true : undefined, 10000)
  const h = await startHolder(t, ['unshare', '--uts'])
  const uts = inoOf(`/proc/${h.pid}/ns/uts`)
  await waitFor('a namespace made after the overflow to show', () => entriesOf(mnt, uts).length === 1 ? true : undefined, 3000)
})

t.test('without the proc connector, discovery polls, saying so once', { skip }, async t => {
  for (const how of ['events=off', 'netns'] as const) {
    const mnt = tempDir(t)
    const run = stateDir(t, 'nsfs-run-')
    // The connector lives in the initial network namespace only: a daemon
    // in another cannot open it (as in a container).
    const d = how === 'netns'
      ? await startDaemon(t, mnt, ['--run-dir', run], ['unshare', '--net'])
      : await startDaemon(t, mnt, ['--run-dir', run, '-o', how])
    await waitFor('polling to be reported', () => statusOf(run, mnt).discovery === 'poll' ? true : undefined, 5000)
    const lines = d.stderr().split('\n').filter(l => l.includes('discovery polls /proc'))
    t.equal(lines.length, how === 'netns' ? 1 : 0, lines.join('\n'))
    if (how === 'netns') t.match(lines[0], /proc connector cannot be opened/)
    const h = await startHolder(t, ['unshare', '--uts'])
    const uts = inoOf(`/proc/${h.pid}/ns/uts`)
    await waitFor('a new namespace to show by polling', () => entriesOf(mnt, uts).length === 1 ? true : undefined, 3000)
    await h.stop()
    t.equal(await d.stop(), 0)
  }
})
