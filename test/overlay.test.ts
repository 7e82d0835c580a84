// The rename rules and the overlay, on hand-built snapshots: no root needed.
import t, { type Test } from 'tap'
import { NsfsError } from '../src/errors.js'
import { badNameReason, isReservedName } from '../src/model/name-rules.js'
import type { Discovery, Namespace, NsKey, NsType } from '../src/model/namespace.js'
import { applyRename, planRename, retainLive, withPaths, type Overlay, type RenamePlan } from '../src/model/overlay.js'
import { TreeBuilder, withEntryRenamed } from '../src/model/tree.js'
import { lookup, type Tree } from '../src/model/tree-node.js'
import { Vfs } from '../src/vfs/vfs.js'
import { fakeAccess, ROOT_CALLER } from './lib/snapshot.js'

const SEED = Buffer.from('a1b2c3d4', 'hex')

function ns (type: NsType, id: number, owner: NsKey | null, held = true): Namespace {
  return {
    type,
    id: String(id),
    dev: 4,
    ino: 4026531000 + id,
    owner,
    parent: type === 'user' ? owner : null,
    ownerUid: type === 'user' ? 1000 : null,
    holders: held ? [{ kind: 'task', pid: 100 + id, tid: 100 + id, start: id }] : [],
  }
}

// root user:1 owns net:2, net:3, uts:4 and user:5; user:5 owns ipc:6 and user:7.
function discovery (skip: number[] = []): Discovery {
  const all = [
    ns('user', 1, null), ns('net', 2, 'user:1'), ns('net', 3, 'user:1'), ns('uts', 4, 'user:1'),
    ns('user', 5, 'user:1'), ns('ipc', 6, 'user:5'), ns('user', 7, 'user:5'),
  ].filter(n => !skip.includes(Number(n.id)))
  return { root: 'user:1', namespaces: new Map(all.map(n => [`${n.type}:${n.id}` as NsKey, n])), scannedAt: 1000, durationMs: 1 }
}

// The name `key` shows under in `tree`, as a path.
function pathOf (tree: Tree, key: NsKey): string | undefined {
  const visit = (dir: Tree['root'], p: string): string | undefined => {
    for (const [name, node] of dir.entries) {
      if (name === 'user') continue
      const here = `${p}/${name}`
      if (`${node.ns.type}:${node.ns.id}` === key) return here
      if (node.kind === 'dir') { const r = visit(node, here); if (r !== undefined) return r }
    }
    return undefined
  }
  return visit(tree.root, '')
}

function fails (t: Test, fn: () => unknown, code: string, what: string): void {
  try {
    fn()
    t.fail(`${what}: expected ${code}`)
  } catch (err) {
    t.ok(err instanceof NsfsError, `${what}: an NsfsError`)
    t.equal((err as NsfsError).code, code, `${what} → ${code}`)
  }
}

t.test('name rules', async t => {
  for (const bad of ['', '.', '..', 'a'.repeat(256), 'é'.repeat(128), 'a\0b', 'tab\there', 'new\nline', 'del\x7f', 'a/b', 'bad\uFFFDutf8']) {
    t.type(badNameReason(bad), 'string', `bad: ${JSON.stringify(bad)}`)
  }
  for (const good of ['web', 'a'.repeat(255), 'é'.repeat(127), 'net', 'net-', 'net-web', 'NET-abc', 'net-ABC123', 'user-', 'db 1', 'ünïcode']) {
    t.equal(badNameReason(good), undefined, `good: ${good}`)
  }
  for (const reserved of ['net-3f9a1c0b7e2d', 'user-abc', 'uts-0', 'cgroup-' + 'f'.repeat(64) + '-1', 'time-cafe']) {
    t.ok(isReservedName(reserved), `reserved: ${reserved}`)
  }
  for (const free of ['net-web', 'netx-abc', 'net-abc-x', 'foo-abc', 'net-ABC', 'user']) {
    t.notOk(isReservedName(free), `free: ${free}`)
  }
})

t.test('the tree shows chosen names and only them', async t => {
  const b = new TreeBuilder(SEED)
  const plain = b.build(discovery())
  const netDefault = pathOf(plain, 'net:2') as string
  const dirDefault = pathOf(plain, 'user:5') as string
  t.match(netDefault, /^\/net-[0-9a-f]{12}$/)
  const chosen = new Map<NsKey, { name: string }>([['net:2', { name: 'web' }], ['user:5', { name: 'tenant' }]])
  const tree = b.build(discovery(), chosen)
  t.equal(pathOf(tree, 'net:2'), '/web')
  t.equal(pathOf(tree, 'user:5'), '/tenant')
  t.equal(pathOf(tree, 'ipc:6'), `/tenant/${(pathOf(plain, 'ipc:6') as string).split('/')[2]}`, 'members of a renamed directory keep their names')
  t.notOk(tree.root.entries.has(netDefault.slice(1)), 'the default name is gone')
  t.equal(lookup(tree, '/web')?.defaultName, netDefault.slice(1), 'the node knows its default name')
  t.equal(tree.root.entries.size, plain.root.entries.size, 'nothing added or lost')
})

t.test('a chosen name that cannot be used falls back to the default', async t => {
  const b = new TreeBuilder(SEED)
  const plain = b.build(discovery())
  const utsDefault = (pathOf(plain, 'uts:4') as string).slice(1)
  const chosen = new Map<NsKey, { name: string }>([
    ['net:2', { name: 'same' }], ['net:3', { name: 'same' }],
    ['uts:4', { name: 'user' }], ['ipc:6', { name: 'a/b' }], ['user:7', { name: utsDefault }],
  ])
  const tree = b.build(discovery(), chosen)
  const names = [pathOf(tree, 'net:2'), pathOf(tree, 'net:3')]
  t.ok(names.includes('/same'), 'one of two equal names is used')
  t.ok(names.some(n => /^\/net-/.test(n ?? '')), 'the other shows its default')
  t.equal(pathOf(tree, 'uts:4'), `/${utsDefault}`, "'user' is never a chosen name")
  t.equal(pathOf(tree, 'ipc:6'), pathOf(plain, 'ipc:6'), 'a bad name is ignored')
  t.equal(pathOf(tree, 'user:7'), pathOf(plain, 'user:7'), 'a reserved name is ignored')
  t.ok(tree.root.entries.has('user'))
})

t.test('planRename', async t => {
  const b = new TreeBuilder(SEED)
  const tree = b.build(discovery())
  const net2 = pathOf(tree, 'net:2') as string
  const net3 = pathOf(tree, 'net:3') as string
  const dir5 = pathOf(tree, 'user:5') as string
  const ipc6 = pathOf(tree, 'ipc:6') as string

  const set = planRename(tree, net2, '/web')
  t.equal(set.kind, 'set')
  t.match(set, { kind: 'set', from: net2, name: 'web', dir: 'user:1' })
  t.match(planRename(tree, ipc6, `${dir5}/db`), { kind: 'set', dir: 'user:5', name: 'db' })
  t.match(planRename(tree, dir5, '/tenant'), { kind: 'set', name: 'tenant', dir: 'user:1' })
  t.equal(planRename(tree, net2, net2).kind, 'none', 'same name: nothing to do')

  fails(t, () => planRename(tree, '/net-000000000000', '/web'), 'ENOENT', 'missing source')
  fails(t, () => planRename(tree, net2, net3), 'EEXIST', 'onto another entry')
  fails(t, () => planRename(tree, net2, dir5), 'EEXIST', 'onto a directory')
  fails(t, () => planRename(tree, net2, '/.nsfs.json'), 'EEXIST', 'onto the metadata file')
  fails(t, () => planRename(tree, `${dir5}/.nsfs.json`, `${dir5}/meta`), 'EPERM', 'the metadata file itself')
  fails(t, () => planRename(tree, net2, `${dir5}/web`), 'EXDEV', 'into a child directory')
  fails(t, () => planRename(tree, ipc6, '/db'), 'EXDEV', 'out to the parent')
  fails(t, () => planRename(tree, '/user', '/me'), 'EPERM', 'the user entry')
  fails(t, () => planRename(tree, `${dir5}/user`, `${dir5}/me`), 'EPERM', 'a nested user entry')
  fails(t, () => planRename(tree, net2, '/user'), 'EPERM', 'onto user')
  fails(t, () => planRename(tree, '/', '/x'), 'EPERM', 'the root')
  for (const bad of ['.', '..', 'a\x01b', 'a\nb']) fails(t, () => planRename(tree, net2, `/${bad}`), 'EINVAL', `bad name ${JSON.stringify(bad)}`)
  fails(t, () => planRename(tree, net2, `/${'x'.repeat(256)}`), 'ENAMETOOLONG', 'a name over 255 bytes')
  fails(t, () => planRename(tree, net2, '/'), 'EINVAL', 'empty name')
  fails(t, () => planRename(tree, net2, '/net-0123456789ab'), 'EINVAL', 'another default-shaped name')
  fails(t, () => planRename(tree, net2, `/uts${net2.slice(4)}`), 'EINVAL', 'own hash, other type')
  fails(t, () => planRename(tree, dir5, `/net${dir5.slice(5)}`), 'EINVAL', 'a directory to an entry-shaped name')

  // Back to the default name after a rename.
  const renamed = b.build(discovery(), new Map([['net:2', { name: 'web' }]]))
  t.match(planRename(renamed, '/web', net2), { kind: 'clear', from: '/web', name: net2.slice(1) })
  t.match(planRename(renamed, '/web', '/db'), { kind: 'set', name: 'db' }, 'renamed again')
  fails(t, () => planRename(renamed, '/web', net3), 'EEXIST', 'onto another default')
})

t.test('applyRename, retainLive, withPaths', async t => {
  const b = new TreeBuilder(SEED)
  const tree = b.build(discovery())
  const dir5 = pathOf(tree, 'user:5') as string
  const ipc6 = pathOf(tree, 'ipc:6') as string
  const net2 = pathOf(tree, 'net:2') as string
  let ov: Overlay = new Map()
  const step = (plan: RenamePlan): Tree => {
    ov = applyRename(ov, plan)
    return b.build(discovery(), ov)
  }
  let cur = step(planRename(tree, ipc6, `${dir5}/db`))
  t.same(ov.get('ipc:6'), { key: 'ipc:6', type: 'ipc', name: 'db', dir: 'user:5', path: `${dir5}/db` })
  cur = step(planRename(cur, dir5, '/tenant'))
  t.equal(ov.get('ipc:6')?.path, '/tenant/db', 'entries below a renamed directory move along')
  t.equal(ov.get('user:5')?.path, '/tenant')
  t.equal(withPaths(ov, cur), ov, 'paths already current: the same overlay')
  cur = step(planRename(cur, net2, '/web'))
  t.equal(ov.size, 3)
  cur = step(planRename(cur, '/tenant', dir5))
  t.notOk(ov.has('user:5'), 'back to the default: forgotten')
  t.equal(ov.get('ipc:6')?.path, `${dir5}/db`)
  t.equal(applyRename(ov, { kind: 'none' }), ov)

  t.equal(retainLive(ov, discovery().namespaces), ov, 'nobody died: the same overlay')
  const after = retainLive(ov, discovery([2]).namespaces)
  t.same([...after.keys()], ['ipc:6'], 'the dead one is forgotten')

  const stale = new Map(ov)
  stale.set('ipc:6', { ...(ov.get('ipc:6') as NonNullable<ReturnType<Overlay['get']>>), path: '/old/db' })
  t.equal(withPaths(stale, cur).get('ipc:6')?.path, `${dir5}/db`, 'a stale path is corrected')
  t.equal(withPaths(new Map(), cur).size, 0)
})

t.test('withEntryRenamed copies only the way down', async t => {
  const b = new TreeBuilder(SEED)
  const tree = b.build(discovery())
  const dir5 = pathOf(tree, 'user:5') as string
  const ipc6 = pathOf(tree, 'ipc:6') as string
  const next = withEntryRenamed(tree, ipc6, 'db')
  t.equal(lookup(next, `${dir5}/db`), lookup(tree, ipc6), 'the same node under the new name')
  t.equal(lookup(next, ipc6), undefined)
  t.equal(lookup(tree, `${dir5}/db`), undefined, 'the old tree is untouched')
  t.equal(lookup(next, '/user'), lookup(tree, '/user'), 'other nodes are shared')
  t.same(next, b.build(discovery(), new Map([['ipc:6', { name: 'db' }]])), 'the same tree a rebuild gives')
  t.throws(() => withEntryRenamed(tree, '/nothing', 'x'))
  t.throws(() => withEntryRenamed(tree, `${pathOf(tree, 'net:2') as string}/x`, 'y'))
})

t.test('Vfs.rename', async t => {
  const b = new TreeBuilder(SEED)
  let tree = b.build(discovery())
  const net2 = pathOf(tree, 'net:2') as string
  const dead = new Set<string>()
  const recorded: RenamePlan[] = []
  const access = fakeAccess(() => tree, n => dead.has(n.id ?? '') ? undefined : '/proc/1/ns/net')
  const view = access.view(ROOT_CALLER)
  const names = (): string[] => { const e = vfs.resolve('/', view); return e.kind === 'dir' ? [...vfs.list(e, view).names] : [] }
  const vfs = new Vfs(() => tree, access, plan => {
    recorded.push(plan)
    if (plan.kind !== 'none') tree = withEntryRenamed(tree, plan.from, plan.name)
  })
  vfs.rename(net2, '/web', view)
  t.ok(names().includes('web'))
  t.notOk(names().includes(net2.slice(1)))
  vfs.rename('/web', '/web', view)
  t.equal(recorded.length, 1, 'renaming to the same name records nothing')
  dead.add('3')
  fails(t, () => vfs.rename(pathOf(tree, 'net:3') as string, '/gone', view), 'ENOENT', 'a namespace that died since the scan')
  fails(t, () => vfs.rename('/web', '/user', view), 'EPERM', 'through the vfs')
  const live = fakeAccess(() => tree, () => '/proc/1/ns/net')
  const failing = new Vfs(() => tree, live, () => { throw new NsfsError('EIO', 'disk full') })
  fails(t, () => failing.rename('/web', '/www', view), 'EIO', 'a rename that cannot be saved')
  t.ok(names().includes('web'), 'and nothing changed')
  const readOnly = new Vfs(() => tree, live)
  fails(t, () => readOnly.rename('/web', '/www', view), 'EROFS', 'without a recorder')
})
