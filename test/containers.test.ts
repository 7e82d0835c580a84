// Containers without an engine: cgroup paths as each engine writes them,
// the engines' state files as they keep them, directory names, and the
// /containers directory the vfs serves from a hand-built tree.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { annotationLabel, EngineLabels } from '../src/containers/engine-labels.js'
import { cgroupContainer, containerDirs, ContainerSet, escapeName, type Container } from '../src/model/containers.js'
import { dirMetadata } from '../src/model/metadata.js'
import { nsKey, type Namespace, type NsType } from '../src/model/namespace.js'
import { TreeBuilder } from '../src/model/tree.js'
import { S_IFDIR, S_IFLNK, Vfs, type DirEntry } from '../src/vfs/vfs.js'
import { caller, discovery, fakeAccess, ns, ROOT_CALLER, task } from './lib/snapshot.js'

const ID = 'f13838a596464728ba0b9a36617a58a89b5ff5dae1d5bcfd1cb914e0a89195bf'
const ID2 = 'a3f45e5546a24fc03aa74223f618474f9dd9440ea5b21fb2408c97a6a6b5f761'

t.test('the container a cgroup path names', async t => {
  const v1 = (p: string): string => `12:pids:${p}\n1:name=systemd:${p}\n0::${p}\n`
  t.same(cgroupContainer(v1(`/libpod_parent/libpod-${ID}`)), { engine: 'podman', id: ID }, 'Podman under cgroupfs')
  t.same(cgroupContainer(`0::/machine.slice/libpod-${ID}.scope/container\n`), { engine: 'podman', id: ID }, 'Podman under systemd')
  t.equal(cgroupContainer(`0::/machine.slice/libpod-conmon-${ID}.scope\n`), undefined, 'conmon is not the container')
  t.same(cgroupContainer(`0::/docker/${ID}\n`), { engine: 'docker', id: ID }, 'Docker under cgroupfs')
  t.same(cgroupContainer(`0::/system.slice/docker-${ID}.scope\n`), { engine: 'docker', id: ID }, 'Docker under systemd')
  t.same(cgroupContainer(`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice/cri-containerd-${ID}.scope\n`), { engine: 'containerd', id: ID })
  t.same(cgroupContainer(`0::/kubepods/besteffort/pod0b1c2d3e-aaaa-bbbb-cccc-0123456789ab/${ID}\n`), { engine: 'containerd', id: ID }, 'kubelet under cgroupfs')
  t.same(cgroupContainer(`0::/kubepods.slice/kubepods-pod12.slice/crio-${ID}.scope\n`), { engine: 'crio', id: ID })
  t.same(cgroupContainer('0::/lxc.payload.web/init.scope\n'), { engine: 'lxc', id: 'web' })
  t.same(cgroupContainer('0::/lxc/old-web\n'), { engine: 'lxc', id: 'old-web' })
  t.same(cgroupContainer('0::/machine.slice/machine-my\\x2dbox.scope/payload\n'), { engine: 'nspawn', id: 'my-box' }, 'systemd escapes unescaped')
  t.equal(cgroupContainer('0::/user.slice/user-1000.slice/session-2.scope\n'), undefined, 'a login session')
  t.equal(cgroupContainer('0::/\n'), undefined)
  t.equal(cgroupContainer(''), undefined)
  t.same(cgroupContainer(`5:cpu:/\n0::/docker/${ID}\n`), { engine: 'docker', id: ID }, 'the unified line first')
  t.equal(cgroupContainer(`0::/docker/${ID.slice(0, 60)}\n`), undefined, 'an id is 64 hex digits')
})

t.test('names made file names, and collisions told apart', async t => {
  t.equal(escapeName('web'), 'web')
  t.equal(escapeName('a/b'), 'a%2Fb')
  t.equal(escapeName('100%'), '100%25')
  t.equal(escapeName('.hidden'), '%2Ehidden', 'a leading dot: no ., .. or .nsfs.json')
  t.equal(escapeName('..'), '%2E.')
  t.equal(escapeName('tab\there'), 'tab%09here')
  t.equal(escapeName(''), '%00')
  t.equal(escapeName('café'), 'café', 'UTF-8 stays')
  const long = escapeName('x'.repeat(300))
  t.equal(Buffer.byteLength(long), 255)
  t.match(long, /^x{246}~[0-9a-f]{8}$/)
  t.not(escapeName('x'.repeat(300)), escapeName(`${'x'.repeat(299)}y`), 'two long names stay apart')

  const c = (engine: Container['engine'], id: string, name: string | null): Container => ({ engine, id, label: name === null ? null : { name }, pid: 1, namespaces: new Map(), firstSeen: 0 })
  const dirs = containerDirs([c('podman', ID, 'web'), c('docker', ID2, 'web'), c('docker', ID2.replace('a', 'b'), null), c('lxc', 'box', 'box')])
  t.same([...dirs.keys()].sort(), ['b3f45e5546a2', 'box', `web@docker-${ID2.slice(0, 12)}`, `web@podman-${ID.slice(0, 12)}`])
  const again = containerDirs([...dirs.values()].reverse())
  t.same([...again.keys()], [...dirs.keys()], 'the same names whatever the order')
  const pod = containerDirs([{ ...c('containerd', ID, null), label: { name: 'nginx', pod: { name: 'web-7d9', namespace: 'shop' } } }])
  t.same([...pod.keys()], ['shop_web-7d9_nginx'], 'Kubernetes: namespace_pod_container')
})

t.test('what engines keep on disk', async t => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-engines-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  const write = (p: string, doc: unknown): void => {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true })
    fs.writeFileSync(path.join(root, p), typeof doc === 'string' ? doc : JSON.stringify(doc))
  }
  const labels = new EngineLabels({ storage: path.join(root, 'storage'), docker: path.join(root, 'docker'), containerdTasks: [path.join(root, 'tasks')], crioRun: path.join(root, 'crio') })
  t.equal(labels.labelOf({ engine: 'podman', id: ID }), null, 'no engine state at all: no label')
  write('storage/overlay-containers/containers.json', [{ id: ID2, names: ['other'] }, { id: ID, names: ['web', 'alias'] }])
  t.same(labels.labelOf({ engine: 'podman', id: ID }), { engine: 'podman', label: { name: 'web' } })
  write('storage/overlay-containers/containers.json', [{ id: ID, names: ['renamed'] }, { id: ID2, names: ['x'] }])
  t.same(labels.labelOf({ engine: 'podman', id: ID })?.label, { name: 'renamed' }, 'a rename shows (the file changed)')
  write('docker/containers/' + ID2 + '/config.v2.json', { ID: ID2, Name: '/dweb', State: { Pid: 9 } })
  t.same(labels.labelOf({ engine: 'docker', id: ID2 }), { engine: 'docker', label: { name: 'dweb' } })
  write('docker/containers/' + ID + '/config.v2.json', '{"Name": "/half')
  t.same(labels.labelOf({ engine: 'docker', id: ID }), { engine: 'podman', label: { name: 'renamed' } }, 'a file being written is passed over')
  write(`tasks/k8s.io/${ID}/config.json`, { annotations: { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': 'nginx', 'io.kubernetes.cri.sandbox-name': 'web-7d9', 'io.kubernetes.cri.sandbox-namespace': 'shop' } })
  t.same(labels.labelOf({ engine: 'containerd', id: ID }), { engine: 'containerd', label: { name: 'nginx', pod: { name: 'web-7d9', namespace: 'shop' } } })
  const crioId = ID.replace('f', 'e')
  write(`crio/overlay-containers/${crioId}/userdata/config.json`, { annotations: { 'io.kubernetes.cri-o.ContainerType': 'sandbox', 'io.kubernetes.container.name': 'POD', 'io.kubernetes.pod.name': 'db-0', 'io.kubernetes.pod.namespace': 'shop' } })
  t.same(labels.labelOf({ engine: 'crio', id: crioId }), { engine: 'crio', label: { name: 'POD', pod: { name: 'db-0', namespace: 'shop' } } })
  t.same(labels.labelOf({ engine: 'lxc', id: 'box' }), { engine: 'lxc', label: { name: 'box' } })
  t.same(annotationLabel({ 'nerdctl/name': 'n1' }), { name: 'n1' })
  t.equal(annotationLabel({ 'io.kubernetes.cri.container-name': 'x' }), undefined, 'no pod: no Kubernetes name')
  t.equal(annotationLabel('nope'), undefined)
})

t.test('the containers directory', async t => {
  const root = ns('user', 1, { holders: [task(2)] })
  const hostMnt = ns('mnt', 2, { owner: nsKey(root), holders: [task(2)] })
  const hostCgroup = ns('cgroup', 3, { owner: nsKey(root), holders: [task(2), task(100)] })
  const mnt = ns('mnt', 4, { owner: nsKey(root), holders: [task(100)] })
  const net = ns('net', 5, { owner: nsKey(root), holders: [task(100)] })
  const tenant = ns('user', 6, { owner: nsKey(root), parent: nsKey(root), ownerUid: 1000, holders: [task(200)] })
  const tmnt = ns('mnt', 7, { owner: nsKey(tenant), holders: [task(200)] })
  const dead = ns('uts', 8, { owner: nsKey(root), holders: [] })
  const all = [hostMnt, hostCgroup, mnt, net, tenant, tmnt, dead]
  const tree = new TreeBuilder(Buffer.from('bb', 'hex')).build(discovery(root, all))
  const c = (id: string, name: string, pid: number, nss: Namespace[]): Container => ({
    engine: 'podman', id, label: { name }, pid, firstSeen: 1_700_000_000_500,
    namespaces: new Map(nss.map(n => [n.type, nsKey(n)] as [NsType, ReturnType<typeof nsKey>])),
  })
  const set = new ContainerSet([c(ID, 'web', 100, [mnt, net, hostCgroup, dead]), c(ID2, 'rootless', 200, [tenant, tmnt, hostCgroup])])
  const stranger = caller([root, hostMnt, hostCgroup], { tid: 600, uid: 2000 })
  const owner = caller([root, hostMnt, hostCgroup], { tid: 500, uid: 1000 })
  const renamed: string[] = []
  const vfs = new Vfs(() => tree, fakeAccess(() => tree, n => `/proc/${n.holders[0]?.kind === 'task' ? n.holders[0].pid : 0}/ns/${n.type}`, new Map([[600, stranger], [500, owner]])), p => { renamed.push(p.kind) }, () => set)
  const view = vfs.view(ROOT_CALLER)
  const dir = (p: string, v = view): DirEntry => {
    const e = vfs.resolve(p, v)
    if (e.kind !== 'dir' && e.kind !== 'containers' && e.kind !== 'container') throw new Error(`${p} is no directory`)
    return e
  }
  const names = (p: string, v = view): string[] => [...vfs.list(dir(p, v), v).names]
  t.ok(names('/').includes('containers'), 'at the mount root')
  t.notOk(names(`/${names('/').find(n => n.startsWith('user-')) ?? ''}`).includes('containers'), 'and only there')
  t.same(names('/containers'), ['rootless', 'web'])
  t.same(names('/containers/web'), ['cgroup', 'mnt', 'net'], 'one link per namespace of its init the tree shows (a dead uts has no entry)')
  const netPath = dirMetadata(tree, '/')?.entries.find(e => e.key === nsKey(net))?.path
  const link = vfs.resolve('/containers/web/net', view)
  t.equal(vfs.readlink(link, view), `../..${netPath ?? ''}`, 'relative to its entry in the tree')
  t.match(vfs.attr(link), { mode: S_IFLNK | 0o777, size: `../..${netPath ?? ''}`.length, timeMs: 1_700_000_000_500 })
  t.match(vfs.attr(vfs.resolve('/containers/web', view)), { mode: S_IFDIR | 0o555 })
  const tenantPath = dirMetadata(tree, '/')?.entries.find(e => e.key === nsKey(tenant))?.path ?? ''
  t.equal(vfs.readlink(vfs.resolve('/containers/rootless/user', view), view), `../..${tenantPath}/user`, 'a user namespace by its directory\'s own handle')
  t.same(vfs.cacheTimes(vfs.resolve('/containers/web', view)), { entry: 0, attr: 0 }, 'never kept by the kernel')
  t.throws(() => vfs.resolve('/containers/nope', view), { code: 'ENOENT', path: '/containers/nope' })
  t.throws(() => vfs.resolve('/containers/web/uts', view), { code: 'ENOENT' })
  t.throws(() => vfs.resolve('/containers/web/bogus', view), { code: 'ENOENT' })
  t.throws(() => vfs.open(vfs.resolve('/containers', view), 0, view), { code: 'EISDIR' })

  const sv = vfs.view({ uid: 2000, gid: 2000, pid: 600 })
  t.same(names('/containers', sv), [], 'a stranger sharing the host\'s cgroup namespace sees no container')
  t.throws(() => vfs.resolve('/containers/web', sv), { code: 'ENOENT' })
  const ov = vfs.view({ uid: 1000, gid: 1000, pid: 500 })
  t.same(names('/containers', ov), ['rootless'], 'the owner of a user namespace sees the containers in it')
  t.same(names('/containers/rootless', ov), ['cgroup', 'mnt', 'user'])
  const meta = (v: typeof view): unknown => JSON.parse(vfs.read(vfs.open(vfs.resolve('/.nsfs.json', v), 0, v), 1 << 20, 0).toString())
  const cgroupOf = (doc: unknown): unknown => (doc as { entries: Array<{ key: string, containers: unknown }> }).entries.find(e => e.key === nsKey(hostCgroup))?.containers
  t.match(cgroupOf(meta(view)), [{ engine: 'podman', id: ID2, name: 'rootless', path: '/containers/rootless' }, { id: ID, name: 'web', path: '/containers/web' }], 'metadata lists each namespace\'s containers')
  t.same(cgroupOf(meta(sv)), [], 'but only those its reader may see')
  t.match(cgroupOf(meta(ov)), [{ name: 'rootless' }])
  t.equal((cgroupOf(meta(ov)) as unknown[]).length, 1)

  t.throws(() => vfs.rename('/containers/web', '/containers/db', view), { code: 'EPERM' }, 'named by the engine')
  t.throws(() => vfs.rename('/containers', '/boxes', view), { code: 'EPERM' })
  const hostNetName = names('/').find(n => n.startsWith('net-')) ?? ''
  t.throws(() => vfs.rename(`/${hostNetName}`, '/containers', view), { code: 'EEXIST' }, 'the name is taken at the root')
  t.same(renamed, [])
  t.ok(vfs.stands(vfs.resolve('/containers/web/net', view)))
})

t.test('a chosen name cannot take the containers directory\'s place', async t => {
  const root = ns('user', 1, { holders: [task(2)] })
  const net = ns('net', 2, { owner: nsKey(root), holders: [task(3)] })
  const tree = new TreeBuilder(Buffer.from('cc', 'hex')).build(discovery(root, [net]), new Map([[nsKey(net), { name: 'containers' }]]))
  t.notOk(tree.root.entries.has('containers'), 'a hand-edited state file falls back to the default name')
})
