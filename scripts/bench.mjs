// nsfs against lsns and /proc, on the same namespaces in the same run.
// Run through scripts/bench (npm run bench); see `scripts/bench --help`.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { median, percentile, ratio, fmt, table, holds, cpuShare, parseCpuTicks } from './lib/bench-stats.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { nsGetId } = await import(`${ROOT}/dist/kernel/ns-ioctl.js`)
const { nameHash, defaultName } = await import(`${ROOT}/dist/model/names.js`)

const USAGE = `usage: scripts/bench [--sizes 1000,10000,60000] [--runs 5] [--json FILE]
                     [--lsns-budget SECONDS] [--warm-budget SECONDS]
                     [--idle-seconds SECONDS]

For each size N: N uts namespaces, one process each (scripts/ns-gen), then
nsfs mounted in a temp dir and measured against lsns and /proc:
cold find, warm ls -lR, visibility and disappearance of an unshare'd
namespace under a churn of 100 creations and deaths per second, daemon peak
RSS and CPU during that churn (after its first 20 s, measured apart),
readlink latency; the daemon's CPU and RSS
at rest against one lsns listing's CPU; statfs and lookup-miss round trips,
and warm ls -lR of N symlinks, against a libfuse3 daemon in C
(scripts/bench-ref, built here), once answering readlink with nothing
checked and once checking each as nsfs does; request latency under 16 parallel
\`ls -lR\`. Prints a table of medians and writes
JSON (default bench-results.json).
`
const { values: opt } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,60000' },
    runs: { type: 'string', default: '5' },
    json: { type: 'string', default: path.join(ROOT, 'bench-results.json') },
    'lsns-budget': { type: 'string', default: '45' },
    'warm-budget': { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (opt.help) { process.stdout.write(USAGE); process.exit(0) }
const SIZES = opt.sizes.split(',').map(Number)
const RUNS = Number(opt.runs)
// Seconds of lsns per size: lsns is quadratic in the number of processes
// (about 10 minutes at 60,000 here), so it runs as often as fits.
const LSNS_BUDGET = Number(opt['lsns-budget'])
const CHURN_RATE = 100
// Seconds of churn before its window: V8 is still compiling the paths a
// churn takes for the first of them (measured, and tabled apart).
const CHURN_WARMUP_SECONDS = 20
const GIVE_UP = 20
// Seconds of warm `ls -lR` per size, the warm-up included: at 60,000 one
// pass takes tens of seconds here, so it runs as often as fits (once at least).
const WARM_BUDGET = Number(opt['warm-budget'])
const IDLE_SECONDS = Number(opt['idle-seconds'])
// Seconds after the first 5 that the daemon is given to settle before it
// is measured at rest.
const SETTLE_SECONDS = 25
// Round trips: calls per timed round (a few tenths of a second), and rounds
// at least.
const ROUND_TRIP_CALLS = 10000
const ROUND_TRIP_RUNS = 7
const SEED = '6e73667362656e6368'
const seed = Buffer.from(SEED, 'hex')

const log = msg => process.stderr.write(`bench: ${msg}\n`)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const now = () => performance.now()
const cleanups = []
let cleaning = false
async function cleanup () {
  if (cleaning) return
  cleaning = true
  while (cleanups.length > 0) {
    try { await cleanups.pop()() } catch (err) { log(`cleanup: ${err.message}`) }
  }
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup().then(() => process.exit(130)) })

function exited (child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise(resolve => child.once('exit', () => resolve()))
}

// ns-gen holding `n` namespaces; resolves once they all exist.
async function generator (n, extra = []) {
  const child = spawn(path.join(ROOT, 'scripts/ns-gen'), [String(n), '--json', '--kinds', 'uts', ...extra], { stdio: ['pipe', 'pipe', 'inherit'] })
  const stop = async () => { child.kill('SIGTERM'); await exited(child) }
  cleanups.push(stop)
  const line = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', code => reject(new Error(`ns-gen ${n} exited with ${code}`)))
  })
  return { ...JSON.parse(line), stop }
}

async function daemon () {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-bench-'))
  const started = now()
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'mount', mnt, '--seed', SEED, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', s => { err += s })
  const stop = async () => {
    child.kill('SIGTERM')
    await exited(child)
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) spawnSync('umount', ['-l', mnt])
    fs.rmdirSync(mnt)
  }
  cleanups.push(stop)
  while (!err.includes(`mounted at ${mnt}`)) {
    if (child.exitCode !== null) throw new Error(`nsfs exited: ${err}`)
    await sleep(20)
  }
  const m = /first scan: (\d+) namespaces in (\d+) ms/.exec(err)
  return { mnt, pid: child.pid, child, stop, mountSeconds: (now() - started) / 1000, firstScanMs: m ? Number(m[2]) : undefined, namespaces: m ? Number(m[1]) : undefined }
}

// Wall seconds of a command with its output discarded.
// Runs a command to completion and times it. A command that fails (spawn
// error, non-zero exit) is no timing: `failed` says why.
function timed (cmd, args, timeoutMs = 0, okStatus = [0]) {
  const t0 = now()
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: timeoutMs || undefined, killSignal: 'SIGKILL' })
  const s = (now() - t0) / 1000
  if (r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGKILL') return { seconds: s, timedOut: true }
  if (r.error !== undefined || !okStatus.includes(r.status)) {
    return { seconds: s, timedOut: false, failed: `${cmd} ${r.error?.message ?? `exited ${r.status}`}: ${(r.stderr ?? '').trim().split('\n')[0]}` }
  }
  return { seconds: s, timedOut: false }
}

// The seconds of a command that must succeed (`okStatus`: ls -lR exits 1
// for an entry that vanished while it listed).
function mustTime (cmd, args, okStatus = [0]) {
  const x = timed(cmd, args, 0, okStatus)
  if (x.failed !== undefined) throw new Error(x.failed)
  return x.seconds
}

function dropCaches () {
  // Dentries and inodes only (2): the kernel forgets what it knew of the mount.
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2')
}

function rssKiB (pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch { return 0 }
}
const cpuTicks = pid => parseCpuTicks(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'))

// CPU nanoseconds the threads of `pid` ran (schedstat: finer than ticks,
// which an idle daemon spends too few of to count).
function cpuNs (pid) {
  let sum = 0
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try { sum += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch {}
  }
  return sum
}

// CPU seconds (user + system) of one lsns listing.
function lsnsCpuSeconds () {
  const r = spawnSync('bash', ['-c', 'lsns >/dev/null; times'], { encoding: 'utf8' })
  const children = r.stdout.trim().split('\n')[1] ?? ''
  return [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0)
}

const missOf = mnt => () => { try { fs.lstatSync(path.join(mnt, 'no-such-entry')) } catch {} }

// The C reference daemon, built once and mounted in a temp dir with a root
// of `links` symlinks, and the C client that times round trips
// (`roundTrip(op, mnt, n)`: mean µs). With `holders` (pids), each link
// leads to a holder's /proc/PID/ns/uts and is checked on every readlink.
async function reference (links, holders) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-bench-ref-'))
  const bin = path.join(dir, 'ref-fuse')
  const client = path.join(dir, 'round-trip')
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' }).stdout.trim().split(/\s+/)
  for (const [out, src, extra] of [[bin, 'ref-fuse.c', flags], [client, 'round-trip.c', []]]) {
    const cc = spawnSync('cc', ['-O2', '-o', out, path.join(ROOT, 'scripts/bench-ref', src), ...extra], { encoding: 'utf8' })
    if (cc.status !== 0) throw new Error(`cannot build the C reference (${src}): ${cc.stderr}`)
  }
  const roundTrip = (op, at, n) => {
    const r = spawnSync(client, [op, at, String(n)], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`round-trip ${op} ${at}: ${r.stderr.trim()}`)
    return Number(r.stdout)
  }
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  const env = { ...process.env, REF_LINKS: String(links) }
  if (holders !== undefined) {
    env.REF_HOLDERS = path.join(dir, 'holders')
    fs.writeFileSync(env.REF_HOLDERS, holders.join('\n'))
  }
  const child = spawn(bin, ['-f', '-s', mnt], { stdio: 'ignore', env })
  const stop = async () => {
    child.kill('SIGTERM')
    await exited(child)
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) spawnSync('umount', ['-l', mnt])
    fs.rmSync(dir, { recursive: true, force: true })
  }
  cleanups.push(stop)
  while (!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) {
    if (child.exitCode !== null) throw new Error('the C reference exited')
    await sleep(20)
  }
  return { mnt, stop, roundTrip }
}

// Lookup-miss latencies (ms) of a probe while 16 `ls -lR` read the mount.
async function underLoad (mnt, seconds = 5) {
  const loops = []
  const until = now() + seconds * 1000
  for (let i = 0; i < 16; i++) {
    const loop = async () => {
      while (now() < until) {
        await exited(spawn('ls', ['-lR', mnt], { stdio: 'ignore' }))
      }
    }
    loops.push(loop())
  }
  const lat = []
  const miss = missOf(mnt)
  while (now() < until) {
    const t0 = now()
    miss()
    lat.push(now() - t0)
    await new Promise(resolve => setImmediate(resolve))
  }
  await Promise.all(loops)
  return lat
}

// Mean microseconds per readlink of `p`, over `n` calls.
function readlinkMicros (p, n = 1000) {
  fs.readlinkSync(p)
  const t0 = now()
  for (let i = 0; i < n; i++) fs.readlinkSync(p)
  return (now() - t0) * 1000 / n
}

// The entry name nsfs gives a namespace, from the same code and seed.
function entryName (nsPath, type) {
  const fd = fs.openSync(nsPath, 'r')
  try {
    const st = fs.fstatSync(fd)
    const id = nsGetId(fd, nsPath).toString()
    return defaultName(type, nameHash(seed, { type, id, dev: st.dev, ino: st.ino }))
  } finally { fs.closeSync(fd) }
}

const exists = p => { try { fs.lstatSync(p); return true } catch { return false } }

// Seconds from spawning `unshare --uts sleep` to its entry at the root, and
// from killing it to the entry gone.
async function appearDisappear (mnt) {
  const selfUts = fs.readlinkSync('/proc/self/ns/uts')
  const t0 = now()
  const child = spawn('unshare', ['--uts', 'sleep', '600'], { stdio: 'ignore' })
  const kill = async () => { child.kill('SIGKILL'); await exited(child) }
  cleanups.push(kill)
  let name
  for (;;) {
    try {
      if (fs.readlinkSync(`/proc/${child.pid}/ns/uts`) !== selfUts) { name = entryName(`/proc/${child.pid}/ns/uts`, 'uts'); break }
    } catch {}
    await sleep(1)
  }
  // Waits of more than GIVE_UP seconds count as GIVE_UP (the table says so).
  const entry = path.join(mnt, name)
  while (!exists(entry) && now() - t0 < GIVE_UP * 1000) await sleep(2)
  const appear = (now() - t0) / 1000
  const t1 = now()
  child.kill('SIGKILL')
  while (exists(entry) && now() - t1 < GIVE_UP * 1000) await sleep(2)
  const vanish = (now() - t1) / 1000
  await exited(child)
  cleanups.splice(cleanups.indexOf(kill), 1)
  return { appear, vanish }
}

async function benchSize (n) {
  log(`N=${n}: creating ${n} uts namespaces, one process each`)
  const gen = await generator(n)
  log(`N=${n}: ns-gen took ${gen.seconds} s`)
  const r = { n, runs: RUNS, genSeconds: gen.seconds }

  // lsns, as often as its budget allows (at least once, capped at the budget).
  const lsns = []
  const lsnsStart = now()
  let lsnsTimedOut = false
  let lsnsFailed
  while (lsns.length < RUNS) {
    let x = timed('lsns', [], LSNS_BUDGET * 1000)
    // lsns at 60,000 processes sometimes exits 1 at once, without a word
    // (it did twice in a row once): a few more tries, a few seconds apart,
    // each failure in the log.
    for (let retry = 0; x.failed !== undefined && retry < 3; retry++) {
      log(`N=${n}: lsns failed (${x.failed}); trying again in 5 s`)
      await sleep(5000)
      x = timed('lsns', [], LSNS_BUDGET * 1000)
    }
    if (x.failed !== undefined) { lsnsFailed = x.failed; break }
    if (x.timedOut) { lsnsTimedOut = true; lsns.push(x.seconds); break }
    lsns.push(x.seconds)
    if ((now() - lsnsStart) / 1000 + x.seconds > LSNS_BUDGET) break
  }
  r.lsns = { runs: lsns, median: lsns.length > 0 ? median(lsns) : undefined, timedOut: lsnsTimedOut, failed: lsnsFailed }
  log(`N=${n}: lsns ${lsnsFailed !== undefined ? `failed: ${lsnsFailed}` : `${lsns.map(s => s.toFixed(2)).join(' ')} s${lsnsTimedOut ? ' (stopped at the budget)' : ''}`}`)

  const d = await daemon()
  r.daemon = { mountSeconds: d.mountSeconds, firstScanMs: d.firstScanMs, namespaces: d.namespaces }
  log(`N=${n}: mounted in ${d.mountSeconds.toFixed(1)} s (first scan ${d.firstScanMs} ms, ${d.namespaces} namespaces)`)

  // At rest: nothing changes; the daemon's CPU over the window, per minute,
  // against the CPU of one lsns listing. The window opens 30 s after the
  // mount: until then V8 is still optimizing hot code (its compiler shows
  // in a perf profile 20 s after the mount); that time is measured apart
  // (5 to 30 s).
  await sleep(5000)
  const s0 = cpuNs(d.pid); const sw = now()
  await sleep(SETTLE_SECONDS * 1000)
  const settlingCpuPerMin = (cpuNs(d.pid) - s0) / 1e9 * 60000 / (now() - sw)
  const i0 = cpuNs(d.pid); const iw = now()
  await sleep(IDLE_SECONDS * 1000)
  const idleCpuPerMin = (cpuNs(d.pid) - i0) / 1e9 * 60000 / (now() - iw)
  const lsnsCpu = median(Array.from({ length: Math.min(3, RUNS) }, lsnsCpuSeconds))
  r.idle = { seconds: IDLE_SECONDS, cpuSecondsPerMinute: idleCpuPerMin, settlingCpuSecondsPerMinute: settlingCpuPerMin, lsnsCpuSeconds: lsnsCpu, listingsPerMinute: idleCpuPerMin / lsnsCpu, rssMiB: rssKiB(d.pid) / 1024 }
  log(`N=${n}: idle: ${fmt(idleCpuPerMin)} CPU-s/min (${fmt(r.idle.listingsPerMinute)} lsns listings of ${fmt(lsnsCpu)} CPU-s; ${fmt(settlingCpuPerMin)} while settling), rss ${fmt(r.idle.rssMiB)} MiB`)

  // The request path against the C reference: both warmed up alike, then
  // timed in alternating rounds so that they share the machine's noise.
  const ref = await reference(n)
  const rt = { statfs: [], refStatfs: [], miss: [], refMiss: [] }
  for (const op of ['statfs', 'miss']) for (const at of [d.mnt, ref.mnt]) ref.roundTrip(op, at, ROUND_TRIP_CALLS)
  for (let i = 0; i < Math.max(RUNS, ROUND_TRIP_RUNS); i++) {
    rt.statfs.push(ref.roundTrip('statfs', d.mnt, ROUND_TRIP_CALLS)); rt.refStatfs.push(ref.roundTrip('statfs', ref.mnt, ROUND_TRIP_CALLS))
    rt.miss.push(ref.roundTrip('miss', d.mnt, ROUND_TRIP_CALLS)); rt.refMiss.push(ref.roundTrip('miss', ref.mnt, ROUND_TRIP_CALLS))
  }
  const load = await underLoad(d.mnt)
  r.requests = {
    statfsMicros: median(rt.statfs), refStatfsMicros: median(rt.refStatfs),
    missMicros: median(rt.miss), refMissMicros: median(rt.refMiss),
    underLoad: { samples: load.length, p50Ms: percentile(load, 50), p99Ms: percentile(load, 99), maxMs: Math.max(...load) },
    runs: rt,
  }
  log(`N=${n}: statfs ${fmt(r.requests.statfsMicros)} µs vs C ${fmt(r.requests.refStatfsMicros)} µs; lookup miss ${fmt(r.requests.missMicros)} µs vs C ${fmt(r.requests.refMissMicros)} µs; under 16 ls -lR p99 ${fmt(r.requests.underLoad.p99Ms)} ms of ${load.length}`)

  // Cold: the first run right after mount, the others after the kernel
  // dropped its dentries and inodes.
  const cold = []
  for (let i = 0; i < RUNS; i++) {
    if (i > 0) { dropCaches(); await sleep(300) }
    cold.push(mustTime('find', [d.mnt]))
  }
  r.cold = { runs: cold, median: median(cold) }
  log(`N=${n}: cold find ${cold.map(s => s.toFixed(2)).join(' ')} s`)

  // Warm, in turns with two C references of as many symlinks: what a walk
  // costs when every readlink is a round trip and nothing is checked, and
  // when each makes the check nsfs makes of the namespace's holder (here
  // the same processes').
  const checked = await reference(n, gen.pids)
  const warmStart = now()
  const warmUp = mustTime('ls', ['-lR', d.mnt], [0, 1])
  mustTime('ls', ['-lR', ref.mnt])
  mustTime('ls', ['-lR', checked.mnt])
  const warm = []; const refWarm = []; const checkedWarm = []
  while (warm.length < RUNS) {
    warm.push(mustTime('ls', ['-lR', d.mnt], [0, 1]))
    refWarm.push(mustTime('ls', ['-lR', ref.mnt]))
    checkedWarm.push(mustTime('ls', ['-lR', checked.mnt]))
    if ((now() - warmStart) / 1000 + warmUp > WARM_BUDGET) break
  }
  for (const c of [ref, checked]) { await c.stop(); cleanups.splice(cleanups.indexOf(c.stop), 1) }
  r.warm = { runs: warm, median: median(warm), ref: { runs: refWarm, median: median(refWarm) }, checkedRef: { runs: checkedWarm, median: median(checkedWarm) } }
  log(`N=${n}: warm ls -lR ${warm.map(s => s.toFixed(2)).join(' ')} s; C reference ${refWarm.map(s => s.toFixed(2)).join(' ')} s, checking ${checkedWarm.map(s => s.toFixed(2)).join(' ')} s`)

  // readlink of the host's net namespace entry against /proc's own link.
  const selfNet = fs.statSync('/proc/self/ns/net').ino
  const netEntry = fs.readdirSync(d.mnt).filter(e => e.startsWith('net-')).map(e => path.join(d.mnt, e)).find(p => {
    try { return fs.statSync(p).ino === selfNet } catch { return false }
  })
  const nsfsLink = []; const procLink = []
  for (let i = 0; i < RUNS; i++) {
    nsfsLink.push(readlinkMicros(netEntry))
    procLink.push(readlinkMicros(`/proc/${gen.pids[0]}/ns/net`))
  }
  r.readlink = { nsfsMicros: median(nsfsLink), procMicros: median(procLink), nsfsRuns: nsfsLink, procRuns: procLink }
  log(`N=${n}: readlink ${fmt(median(nsfsLink))} µs vs /proc ${fmt(median(procLink))} µs`)

  // Churn: a second generator creates and ends 100 namespaces a second;
  // visibility runs meanwhile, RSS sampled and CPU counted over the window.
  const churn = await generator(CHURN_RATE, ['--churn', String(CHURN_RATE)])
  let peak = rssKiB(d.pid)
  const sampler = setInterval(() => { peak = Math.max(peak, rssKiB(d.pid)) }, 50)
  cleanups.push(() => clearInterval(sampler))
  const u0 = cpuTicks(d.pid); const uw = now()
  await sleep(CHURN_WARMUP_SECONDS * 1000)
  const warmupCpu = cpuShare(u0, cpuTicks(d.pid), (now() - uw) / 1000)
  const c0 = cpuTicks(d.pid); const w0 = now()
  const appear = []; const vanish = []
  for (let i = 0; i < RUNS; i++) {
    const x = await appearDisappear(d.mnt)
    appear.push(x.appear); vanish.push(x.vanish)
  }
  const minWindow = 10000
  if (now() - w0 < minWindow) await sleep(minWindow - (now() - w0))
  const cpu = cpuShare(c0, cpuTicks(d.pid), (now() - w0) / 1000)
  clearInterval(sampler)
  peak = Math.max(peak, rssKiB(d.pid))
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'))?.[1] ?? 0)
  r.churn = { rate: CHURN_RATE, seconds: (now() - w0) / 1000, cpu, warmupSeconds: CHURN_WARMUP_SECONDS, warmupCpu, peakRssMiB: peak / 1024, lifetimePeakRssMiB: hwm / 1024, appear: { runs: appear, median: median(appear) }, vanish: { runs: vanish, median: median(vanish) } }
  log(`N=${n}: churn: cpu ${(cpu * 100).toFixed(1)}% (${(warmupCpu * 100).toFixed(1)}% in its first ${CHURN_WARMUP_SECONDS} s), peak rss ${(peak / 1024).toFixed(0)} MiB, appear ${fmt(median(appear))} s, vanish ${fmt(median(vanish))} s`)
  await churn.stop(); cleanups.splice(cleanups.indexOf(churn.stop), 1)
  await d.stop(); cleanups.splice(cleanups.indexOf(d.stop), 1)
  await gen.stop(); cleanups.splice(cleanups.indexOf(gen.stop), 1)
  return r
}

function rowsFor (r) {
  const lsnsCell = r.lsns.failed !== undefined ? 'lsns failed (see log)' : `${fmt(r.lsns.median, 's')}${r.lsns.timedOut ? ' (≥: stopped at the budget)' : r.lsns.runs.length < r.runs ? ` (${r.lsns.runs.length} runs)` : ''}`
  const ok = v => v === undefined ? '?' : v ? 'yes' : 'NO'
  // lsns stopped at its budget took longer: the ratios are upper bounds.
  const bound = r.lsns.timedOut ? '≤ ' : ''
  const coldRatio = ratio(r.cold.median, r.lsns.median)
  const fresh = r.n >= 60000 ? 100 : 50
  const idleBudget = r.n >= 60000 ? 1 : 2
  const statfsRatio = ratio(r.requests.statfsMicros, r.requests.refStatfsMicros)
  const missRatio = ratio(r.requests.missMicros, r.requests.refMissMicros)
  const warmRatio = ratio(r.warm.median, r.lsns.median)
  const rows = [
    ['cold `find`', fmt(r.cold.median, 's'), lsnsCell, bound + fmt(coldRatio), '≤ 0.5× lsns', ok(holds({ limit: 0.5, value: coldRatio }))],
    [`warm \`ls -lR\`${r.warm.runs.length < r.runs ? ` (${r.warm.runs.length} runs)` : ''}`, fmt(r.warm.median, 's'), lsnsCell, bound + fmt(warmRatio), '≤ 0.2× lsns', ok(holds({ limit: 0.2, value: warmRatio }))],
  ]
  if (r.warm.ref !== undefined) {
    rows.push([`warm \`ls -lR\` of C libfuse3's ${r.n} symlinks (readlink a round trip, nothing checked)`, fmt(r.warm.ref.median, 's'), lsnsCell, bound + fmt(ratio(r.warm.ref.median, r.lsns.median)), '', ''])
  }
  if (r.warm.checkedRef !== undefined) {
    rows.push([`warm \`ls -lR\` of C libfuse3's ${r.n} symlinks, each readlink checked as nsfs checks (one \`name_to_handle_at\` of /proc/PID/ns/uts)`, fmt(r.warm.checkedRef.median, 's'), lsnsCell, bound + fmt(ratio(r.warm.checkedRef.median, r.lsns.median)), '', ''])
  }
  if (r.n >= 60000) {
    rows.push(['full listing (`find`)', fmt(r.cold.median, 's'), '', '', '< 3 s', ok(r.cold.median < 3)])
  }
  rows.push(
    ['entry visible after `unshare` (churn)', `${r.churn.appear.median >= GIVE_UP ? '≥ ' : ''}${fmt(r.churn.appear.median * 1000, 'ms')}`, '', '', `≤ ${fresh} ms`, ok(holds({ limit: fresh / 1000, value: r.churn.appear.median }))],
    ['entry gone after holder exit (churn)', `${r.churn.vanish.median >= GIVE_UP ? '≥ ' : ''}${fmt(r.churn.vanish.median * 1000, 'ms')}`, '', '', `≤ ${fresh} ms`, ok(holds({ limit: fresh / 1000, value: r.churn.vanish.median }))],
    [`daemon CPU at ${r.churn.rate} changes/s${r.churn.warmupSeconds === undefined ? '' : ` (after ${r.churn.warmupSeconds} s of it)`}`, `${fmt(r.churn.cpu * 100)} %`, '', '', r.n <= 1000 ? '< 10 %' : '', r.n <= 1000 ? ok(r.churn.cpu < 0.1) : ''],
    ...(r.churn.warmupCpu === undefined ? [] : [[`daemon CPU, the first ${r.churn.warmupSeconds} s of that churn`, `${fmt(r.churn.warmupCpu * 100)} %`, '', '', '', '']]),
    ['daemon peak RSS (churn window)', fmt(r.churn.peakRssMiB, 'MiB'), '', '', r.n >= 60000 ? '< 250 MiB' : '', r.n >= 60000 ? ok(r.churn.peakRssMiB < 250) : ''],
    ['daemon CPU at rest, per minute', fmt(r.idle.cpuSecondsPerMinute, 'CPU-s'), `${fmt(r.idle.lsnsCpuSeconds, 'CPU-s')} (1 lsns)`, `${fmt(r.idle.listingsPerMinute)} listings`, `≤ ${idleBudget} listings`, ok(holds({ limit: idleBudget, value: r.idle.listingsPerMinute }))],
    ...(r.idle.settlingCpuSecondsPerMinute === undefined ? [] : [['daemon CPU settling (5–30 s after mount), per minute', fmt(r.idle.settlingCpuSecondsPerMinute, 'CPU-s'), '', fmt(r.idle.settlingCpuSecondsPerMinute / r.idle.lsnsCpuSeconds) + ' listings', '', '']]),
    ['daemon RSS at rest', fmt(r.idle.rssMiB, 'MiB'), '', '', r.n <= 1000 ? '≤ 64 MiB' : '', r.n <= 1000 ? ok(r.idle.rssMiB <= 64) : ''],
    ['statfs round trip', fmt(r.requests.statfsMicros, 'µs'), `${fmt(r.requests.refStatfsMicros, 'µs')} (C libfuse3)`, fmt(statfsRatio), '≤ 2× C', ok(holds({ limit: 2, value: statfsRatio }))],
    ['lookup-miss round trip', fmt(r.requests.missMicros, 'µs'), `${fmt(r.requests.refMissMicros, 'µs')} (C libfuse3)`, fmt(missRatio), '≤ 2× C', ok(holds({ limit: 2, value: missRatio }))],
    [`p99 request under 16 \`ls -lR\` (${r.requests.underLoad.samples} lookups)`, fmt(r.requests.underLoad.p99Ms, 'ms'), '', '', '< 10 ms', ok(r.requests.underLoad.p99Ms < 10)],
    ['readlink of a `net` entry', fmt(r.readlink.nsfsMicros, 'µs'), `${fmt(r.readlink.procMicros, 'µs')} (/proc)`, fmt(ratio(r.readlink.nsfsMicros, r.readlink.procMicros)), '', ''],
  )
  return rows.map(row => [String(r.n), ...row])
}

async function main () {
  if (process.getuid() !== 0) { log('needs root'); return 1 }
  const started = new Date()
  const results = []
  for (const n of SIZES) results.push(await benchSize(n))
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    lsns: spawnSync('lsns', ['--version'], { encoding: 'utf8' }).stdout.trim(),
    loadavgAtEnd: os.loadavg(),
  }
  const out = { startedAt: started.toISOString(), seconds: (Date.now() - started.getTime()) / 1000, runs: RUNS, machine, results }
  fs.writeFileSync(opt.json, JSON.stringify(out, null, 2) + '\n')
  const header = ['N', 'measure', 'nsfs', 'lsns / /proc', 'ratio', 'target', 'holds']
  process.stdout.write(`\nnsfs benchmark, ${started.toISOString()}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memGiB} GiB, Linux ${machine.kernel}, node ${machine.node}, ${machine.lsns}; medians of ${RUNS} runs\n\n`)
  process.stdout.write(table(header, results.flatMap(rowsFor)) + '\n\n')
  process.stdout.write(`JSON: ${opt.json}; took ${out.seconds.toFixed(0)} s\n`)
  return 0
}

let code = 1
try {
  code = await main()
} catch (err) {
  log(err.stack ?? String(err))
} finally {
  await cleanup()
}
process.exit(code)
