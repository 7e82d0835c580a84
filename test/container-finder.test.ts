// The container search over a fake /proc: containers found from the
// holders' cgroups, searched again only where namespaces changed, young
// processes asked again until settled, inits replaced as they exit.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { ContainerFinder } from '../src/containers/container-finder.js'
import { nsKey, type Discovery, type Namespace, type NsKey, type NsType } from '../src/model/namespace.js'
import { FakeProc } from './lib/fixture.js'
import { discovery, ns, task } from './lib/snapshot.js'

// The fake /proc/uptime says 1000 s: 100,000 clock ticks.
const NOW = 100_000
const OLD = NOW - 10_000

function setup (t: Test): { proc: FakeProc, finder: ContainerFinder, cgroup: (pid: number, text: string) => void } {
  const proc = new FakeProc(t)
  const cgroup = (pid: number, text: string): void => {
    fs.mkdirSync(path.join(proc.root, String(pid)), { recursive: true })
    fs.writeFileSync(path.join(proc.root, String(pid), 'cgroup'), text)
  }
  return { proc, finder: new ContainerFinder(proc.root), cgroup }
}

// Namespaces by inode number, as the daemon's index names them.
function keyOfIn (d: () => Discovery): (type: NsType, ino: number) => NsKey | undefined {
  return (type, ino) => {
    for (const n of d().namespaces.values()) if (n.type === type && n.ino === ino) return nsKey(n)
    return undefined
  }
}

const LXC = (name: string): string => `0::/lxc.payload.${name}\n`

t.test('containers found once, kept while nothing changes, inits replaced as they exit', async t => {
  const { proc, finder, cgroup } = setup(t)
  const hostUser = ns('user', 1, { holders: [task(1, 1, OLD)] })
  const hostNet = ns('net', 2, { holders: [task(1, 1, OLD), task(50, 50, OLD)] })
  let webNet = ns('net', 3, { holders: [task(200, 200, OLD), task(201, 201, OLD)] })
  const webUts = ns('uts', 4, { holders: [task(200, 200, OLD), task(201, 201, OLD)] })
  const webMnt = ns('mnt', 5, { holders: [task(200, 200, OLD), task(201, 201, OLD)] })
  // In an engine's cgroup, but with no mount namespace of its own: no
  // container (every engine gives one its own), and not read.
  const strayUts = ns('uts', 6, { holders: [task(60, 60, OLD)] })
  proc.add({ pid: 1, start: OLD, ns: { user: hostUser.ino, net: hostNet.ino } })
  proc.add({ pid: 50, start: OLD, ns: { user: hostUser.ino, net: hostNet.ino } })
  proc.add({ pid: 60, start: OLD, ns: { user: hostUser.ino, net: hostNet.ino, uts: strayUts.ino } })
  proc.add({ pid: 200, start: OLD, ns: { user: hostUser.ino, mnt: webMnt.ino, net: webNet.ino, uts: webUts.ino } })
  proc.add({ pid: 201, start: OLD, ns: { user: hostUser.ino, mnt: webMnt.ino, net: webNet.ino, uts: webUts.ino } })
  cgroup(1, '0::/init.scope\n')
  cgroup(50, '0::/system.slice/cron.service\n')
  cgroup(60, LXC('stray'))
  cgroup(200, LXC('web'))
  cgroup(201, LXC('web'))
  let d = discovery(hostUser, [hostNet, webNet, webUts, webMnt, strayUts])
  const keyOf = keyOfIn(() => d)

  const first = finder.find(d, keyOf, 'all')
  const web = first.containers.byName.get('web')
  t.equal(web?.engine, 'lxc')
  t.equal(web?.pid, 200, 'the lowest pid is the init')
  t.same([...web?.namespaces ?? []], [['mnt', nsKey(webMnt)], ['net', nsKey(webNet)], ['user', nsKey(hostUser)], ['uts', nsKey(webUts)]], "its init's namespaces, as the tree knows them")
  t.equal(first.containers.byName.size, 1, 'host processes are in none, nor one without a mount namespace of its own')
  t.equal(first.retryInMs, undefined, 'old processes outside every container are settled')
  t.equal(first.containers.of(nsKey(webNet))[0]?.path, '/containers/web')

  // Nothing read again when nothing changed: the cgroup files may go.
  fs.rmSync(path.join(proc.root, '200', 'cgroup'))
  t.equal(finder.find(d, keyOf, new Set()).containers, first.containers, 'the same set when nothing changed')

  // The init exits: the next lowest pid takes its place.
  webNet = { ...webNet, holders: [task(201, 201, OLD)] }
  d = discovery(hostUser, [hostNet, webNet, { ...webUts, holders: [task(201, 201, OLD)] }, { ...webMnt, holders: [task(201, 201, OLD)] }, strayUts])
  proc.remove(200)
  const after = finder.find(d, keyOf, new Set([nsKey(webNet), nsKey(webUts), nsKey(webMnt)]))
  t.equal(after.containers.byName.get('web')?.pid, 201, 'the next pid is the init')
  t.equal(after.containers.byName.get('web')?.firstSeen, web?.firstSeen, 'the same container')

  // Its last process exits: the container goes.
  d = discovery(hostUser, [hostNet, strayUts])
  const gone = finder.find(d, keyOf, new Set([nsKey(webNet), nsKey(webUts), nsKey(webMnt)]))
  t.equal(gone.containers.byName.size, 0, 'no container left')
})

t.test('a young process outside every container is asked again until settled, or at once when it execs', async t => {
  const { proc, finder, cgroup } = setup(t)
  const hostUser = ns('user', 1, { holders: [task(1, 1, OLD)] })
  let mnt = ns('mnt', 2, { holders: [task(1, 1, OLD)] })
  proc.add({ pid: 1, start: OLD, ns: { user: hostUser.ino, mnt: mnt.ino } })
  cgroup(1, '0::/init.scope\n')
  let d = discovery(hostUser, [mnt])
  const keyOf = keyOfIn(() => d)
  t.equal(finder.find(d, keyOf, 'all').containers.byName.size, 0)
  t.notOk(finder.execd(1), 'a settled process is not asked again')
  t.notOk(finder.execd(999), 'nor one never seen')

  // Born 0.2 s ago in the runtime's cgroup.
  const young = NOW - 20
  mnt = { ...mnt, holders: [task(1, 1, OLD), task(300, 300, young)] }
  d = discovery(hostUser, [mnt])
  proc.add({ pid: 300, start: young, ns: { user: hostUser.ino, mnt: mnt.ino } })
  cgroup(300, '0::/system.slice/runtime.service\n')
  const born = finder.find(d, keyOf, new Set([nsKey(mnt)]))
  t.equal(born.containers.byName.size, 0, 'in no container yet')
  t.equal(born.retryInMs, 200, 'asked again after as long again as its age')
  t.equal(finder.find(d, keyOf, new Set()).retryInMs, 200, 'not before it is due')

  // The runtime moves it into the container's cgroup and execs.
  cgroup(300, LXC('db'))
  t.ok(finder.execd(300), 'an unsettled process that execs is asked at the next search')
  const joined = finder.find(d, keyOf, new Set())
  t.equal(joined.containers.byName.get('db')?.pid, 300, 'found in its container')
  t.equal(joined.retryInMs, undefined, 'none left to ask')
  t.notOk(finder.execd(300), 'a process in a container is settled')

  // The pid is reused by an old-looking process outside every container.
  mnt = { ...mnt, holders: [task(1, 1, OLD), task(300, 300, OLD + 5)] }
  d = discovery(hostUser, [mnt])
  cgroup(300, '0::/user.slice\n')
  const reused = finder.find(d, keyOf, new Set([nsKey(mnt)]))
  t.equal(reused.containers.byName.size, 0, 'a reused pid is read again')
})

t.test('a container init that moves to another namespace is made again', async t => {
  const { proc, finder, cgroup } = setup(t)
  const hostUser = ns('user', 1, { holders: [task(1, 1, OLD)] })
  const netA: Namespace = ns('net', 2, { holders: [task(1, 1, OLD), task(400, 400, OLD)] })
  proc.add({ pid: 1, start: OLD, ns: { user: hostUser.ino, net: netA.ino } })
  const appMnt = ns('mnt', 4, { holders: [task(400, 400, OLD)] })
  proc.add({ pid: 400, start: OLD, ns: { user: hostUser.ino, mnt: appMnt.ino, net: netA.ino } })
  cgroup(1, '0::/init.scope\n')
  cgroup(400, LXC('app'))
  let d = discovery(hostUser, [netA, appMnt])
  const keyOf = keyOfIn(() => d)
  t.equal(finder.find(d, keyOf, 'all').containers.byName.get('app')?.namespaces.get('net'), nsKey(netA))

  // `unshare -n` in the container's init: a new net namespace, no event.
  const netB = ns('net', 3, { holders: [task(400, 400, OLD)] })
  d = discovery(hostUser, [{ ...netA, holders: [task(1, 1, OLD)] }, netB, appMnt])
  proc.remove(400)
  proc.add({ pid: 400, start: OLD, ns: { user: hostUser.ino, mnt: appMnt.ino, net: netB.ino } })
  cgroup(400, LXC('app'))
  const moved = finder.find(d, keyOf, new Set([nsKey(netA), nsKey(netB)]))
  t.equal(moved.containers.byName.get('app')?.namespaces.get('net'), nsKey(netB), 'its links read again')
})
