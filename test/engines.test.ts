// Containers of real engines, as MOUNT/containers shows them: Podman (runc,
// cgroupfs) with and without a user namespace of its own, Docker, a name
// two engines share, the oddest name an engine accepts, a container
// removed, and an engine that hangs and then stops. The image is a static
// busybox imported into each engine; everything started here (containers,
// images, a dockerd) is removed by id or pid, pass or fail.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CLI, exited, kernelSkipReason, run, sleep, startDaemon, tempDir, waitFor } from './lib/harness.js'

const has = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0
const BUSYBOX = '/bin/busybox'

function engineSkipReason (): string | undefined {
  for (const bin of ['podman', 'runc', 'dockerd', 'docker']) {
    if (!has(bin)) return `needs ${bin} (scripts/ensure-test-deps installs it)`
  }
  if (!/not a dynamic executable/.test(spawnSync('ldd', [BUSYBOX], { encoding: 'utf8' }).stderr ?? '')) return `needs a static ${BUSYBOX} (busybox-static)`
  return undefined
}

const skip = kernelSkipReason() ?? engineSkipReason()
const TYPES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'] as const
const tag = crypto.randomBytes(4).toString('hex')

// Fails the test with the command's own words.
function must (cmd: string, args: string[]): string {
  const r = run(cmd, args)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`)
  return r.stdout.trim()
}

// Limits runc may set here: podman's defaults are above what this machine
// lets even root raise to, and runc fails on them.
function limit (name: string, most: number): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find(l => l.startsWith(name))
  const hard = Number(line?.trim().split(/\s{2,}/)[2])
  return Number.isFinite(hard) ? Math.min(hard, most) : most
}

const PODMAN = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs']
const podmanRun = (): string[] => [...PODMAN, 'run', '-d', '--network', 'none',
  '--ulimit', `nofile=${limit('Max open files', 20000)}:${limit('Max open files', 20000)}`,
  '--ulimit', `nproc=${limit('Max processes', 1024)}:${limit('Max processes', 1024)}`]

const inoOf = (p: string): number => fs.statSync(p).ino
const pidOf = (engine: 'podman' | 'docker', id: string): number => Number(must(engine, [...(engine === 'podman' ? PODMAN : []), 'inspect', '-f', '{{.State.Pid}}', id]))

interface NsMeta { path: string, type: string, ino: number, containers?: Array<{ engine: string, id: string, name: string | null, path: string }> }

function metadata (mnt: string): NsMeta[] {
  const doc = JSON.parse(fs.readFileSync(path.join(mnt, '.nsfs.json'), 'utf8')) as { entries: NsMeta[] }
  return doc.entries
}

// Milliseconds until `fn` holds, failing after `ms`.
async function within (what: string, fn: () => boolean, ms = 5000): Promise<number> {
  const t0 = Date.now()
  await waitFor(what, () => fn() ? true : undefined, ms, 5)
  return Date.now() - t0
}

t.test('containers of real engines', { skip }, async t => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-engines-'))
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
  fs.mkdirSync(path.join(work, 'rootfs/bin'), { recursive: true })
  fs.copyFileSync(BUSYBOX, path.join(work, 'rootfs/bin/busybox'))
  for (const a of ['sh', 'sleep']) fs.symlinkSync('busybox', path.join(work, 'rootfs/bin', a))
  const tarball = path.join(work, 'rootfs.tar')
  must('tar', ['-C', path.join(work, 'rootfs'), '-cf', tarball, '.'])

  const podmanIds: string[] = []
  const dockerIds: string[] = []
  let dockerd: ReturnType<typeof spawn> | undefined
  const dockerAnswers = (): boolean => run('docker', ['info']).status === 0
  const image = `localhost/nsfs-test-bb:${tag}`
  const dockerImage = `nsfs-test-bb:${tag}`
  t.teardown(async () => {
    for (const id of podmanIds) run('podman', [...PODMAN, 'rm', '-f', '-t', '0', id])
    run('podman', ['rmi', '-f', image])
    if (dockerAnswers()) {
      for (const id of dockerIds) run('docker', ['rm', '-f', id])
      run('docker', ['rmi', '-f', dockerImage])
    }
    if (dockerd !== undefined && dockerd.exitCode === null && dockerd.signalCode === null) {
      dockerd.kill('SIGTERM')
      const done = exited(dockerd)
      if (await Promise.race([done.then(() => true), sleep(30000).then(() => false)]) === false) dockerd.kill('SIGKILL')
      await done
    }
  })
  must('podman', ['import', '-q', tarball, image])

  const mnt = tempDir(t)
  await startDaemon(t, mnt)
  const dir = (name: string): string => path.join(mnt, 'containers', name)
  const web = `web-${tag}`

  t.test('a Podman container: one relative link per namespace of its init, each opening that namespace', async t => {
    const id = must('podman', [...podmanRun(), '--name', web, image, '/bin/sleep', '600'])
    podmanIds.push(id)
    const pid = pidOf('podman', id)
    const ms = await within(`containers/${web}`, () => fs.existsSync(dir(web)))
    t.ok(ms < 1000, `its directory showed ${ms} ms after podman run returned`)
    t.same(fs.readdirSync(dir(web)).sort(), [...TYPES], 'a link per namespace type')
    for (const type of TYPES) {
      const link = fs.readlinkSync(path.join(dir(web), type))
      t.match(link, /^\.\.\/\.\.\//, `${type}: relative to the mount`)
      t.equal(inoOf(path.join(dir(web), type)), inoOf(`/proc/${pid}/ns/${type}`), `${type}: the init's own namespace`)
    }
    t.equal(fs.readlinkSync(path.join(dir(web), 'user')), '../../user', 'no user namespace of its own: the root directory\'s handle')
    t.equal(must('nsenter', [`--net=${dir(web)}/net`, 'readlink', '/proc/self/ns/net']), fs.readlinkSync(`/proc/${pid}/ns/net`), 'nsenter --net= through the container\'s link')

    const netPath = `/${path.posix.normalize(fs.readlinkSync(path.join(dir(web), 'net'))).replace(/^(\.\.\/)+/, '')}`
    const meta = metadata(mnt).find(e => e.path === netPath)
    t.same(meta?.containers, [{ engine: 'podman', id, name: web, path: `/containers/${web}` }], '.nsfs.json names it on its net namespace')
    const ls = JSON.parse(must(process.execPath, [CLI, 'ls', '--json'])) as { namespaces: Array<{ ino: number, containers?: Array<{ name: string | null }> }> }
    t.ok(ls.namespaces.find(n => n.ino === inoOf(`/proc/${pid}/ns/net`))?.containers?.some(c => c.name === web), 'nsfs ls --json too')
    const line = must(process.execPath, [CLI, 'ls']).split('\n').find(l => l.startsWith(`${inoOf(`/proc/${pid}/ns/uts`)} `))
    t.match(line, new RegExp(`\\s${web}\\s`), 'and its CONTAINER column')
  })

  t.test('a Podman container with a user namespace of its own: its links lead into that directory', async t => {
    const name = `userns-${tag}`
    const id = must('podman', [...podmanRun(), '--uidmap', '0:300000:65536', '--name', name, image, '/bin/sleep', '600'])
    podmanIds.push(id)
    const pid = pidOf('podman', id)
    await within(`containers/${name}`, () => fs.existsSync(dir(name)))
    const user = fs.readlinkSync(path.join(dir(name), 'user'))
    t.match(user, /^\.\.\/\.\.\/user-[0-9a-f]{12}\/user$/, 'the handle of its user namespace\'s directory')
    t.match(fs.readlinkSync(path.join(dir(name), 'net')), new RegExp(`^${user.replace(/\/user$/, '').replace(/\./g, '\\.')}/net-[0-9a-f]{12}$`), 'its net namespace inside that directory')
    t.equal(fs.readlinkSync(path.join(dir(name), 'time')), fs.readlinkSync(path.join(dir(web), 'time')), 'the host\'s time namespace, shared')
    t.equal(must('nsenter', [`--user=${dir(name)}/user`, `--net=${dir(name)}/net`, 'readlink', '/proc/self/ns/net']), fs.readlinkSync(`/proc/${pid}/ns/net`))
    t.equal(fs.statSync(path.join(mnt, path.dirname(user.slice(6)))).uid, 0, 'its directory is root\'s: podman, as root, created the user namespace')
  })

  t.test('the oddest name an engine accepts shows as it is', async t => {
    const name = `0.odd_name-${tag}..x`
    const id = must('podman', [...podmanRun(), '--name', name, image, '/bin/sleep', '600'])
    podmanIds.push(id)
    await within(`containers/${name}`, () => fs.existsSync(dir(name)))
    t.ok(fs.readdirSync(path.join(mnt, 'containers')).includes(name))
  })

  t.test('a Docker container, and a name two engines share', async t => {
    if (!dockerAnswers()) {
      dockerd = spawn('dockerd', ['--iptables=false', '--bridge=none', '--exec-opt', 'native.cgroupdriver=cgroupfs'], { stdio: 'ignore' })
      await waitFor('dockerd to answer', () => {
        if (dockerd?.exitCode !== null) throw new Error(`dockerd exited with ${dockerd?.exitCode}`)
        return dockerAnswers() ? true : undefined
      }, 60000, 200)
    }
    must('docker', ['import', tarball, dockerImage])
    const id = must('docker', ['run', '-d', '--rm', '--stop-timeout', '1', '--network', 'none', '--name', web, dockerImage, '/bin/sleep', '600'])
    dockerIds.push(id)
    const pid = pidOf('docker', id)
    const podmanId = podmanIds[0] as string
    const both = [`${web}@docker-${id.slice(0, 12)}`, `${web}@podman-${podmanId.slice(0, 12)}`]
    await within('both containers named web', () => both.every(n => fs.existsSync(dir(n))))
    t.notOk(fs.existsSync(dir(web)), 'neither takes the bare name')
    t.equal(must('nsenter', [`--uts=${dir(both[0] as string)}/uts`, 'readlink', '/proc/self/ns/uts']), fs.readlinkSync(`/proc/${pid}/ns/uts`), 'nsenter through the Docker one')
    const meta = metadata(mnt).find(e => e.type === 'uts' && e.ino === inoOf(`/proc/${pid}/ns/uts`))
    t.same(meta?.containers?.map(c => [c.engine, c.name]), [['docker', web]], 'Docker\'s own name for it')

    t.test('a hung engine delays nothing: names come from its state on disk', async t => {
      const daemonPid = Number(fs.readFileSync('/var/run/docker.pid', 'utf8'))
      process.kill(daemonPid, 'SIGSTOP')
      try {
        const t0 = Date.now()
        const names = fs.readdirSync(path.join(mnt, 'containers'))
        t.ok(names.includes(both[0] as string), 'still listed by name')
        t.ok(Date.now() - t0 < 500, `listed in ${Date.now() - t0} ms with dockerd stopped`)
      } finally {
        process.kill(daemonPid, 'SIGCONT')
      }
    })

    t.test('an engine stopped while nsfs runs: its containers go, the others stay', { skip: dockerd === undefined ? 'dockerd was running before this test; it is left alone' : undefined }, async t => {
      dockerd?.kill('SIGTERM')
      if (dockerd !== undefined) await exited(dockerd)
      const ms = await within('the Docker container to go', () => !fs.existsSync(dir(both[0] as string)))
      t.ok(ms < 1000, `gone ${ms} ms after dockerd exited`)
      await within('the Podman one to take the bare name again', () => fs.existsSync(dir(web)))
    })
  })

  t.test('a container removed: its directory goes', async t => {
    const id = podmanIds.shift() as string
    must('podman', [...PODMAN, 'rm', '-f', '-t', '0', id])
    const ms = await within(`containers/${web} to go`, () => !fs.readdirSync(path.join(mnt, 'containers')).some(n => n.startsWith(web)))
    t.ok(ms < 1000, `gone ${ms} ms after podman rm returned`)
  })
})
