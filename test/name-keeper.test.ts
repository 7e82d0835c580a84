// The NameKeeper with a real store in a temp dir and hand-built snapshots:
// renames are saved before they are served, the dead are forgotten, and a
// save that fails changes nothing.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NameKeeper } from '../src/daemon/name-keeper.js'
import type { Discovery, Namespace, NsKey, NsType } from '../src/model/namespace.js'
import { planRename } from '../src/model/overlay.js'
import { TreeBuilder } from '../src/model/tree.js'
import { lookup } from '../src/model/tree-node.js'
import { OverlayStore, readOverlayFile } from '../src/store/overlay-store.js'

function ns (type: NsType, id: number): Namespace {
  return { type, id: String(id), dev: 4, ino: id, owner: type === 'user' && id === 1 ? null : 'user:1', parent: null, ownerUid: type === 'user' ? 0 : null, holders: [{ kind: 'task', pid: id, tid: id, start: 1 }] }
}

function discovery (ids: number[]): Discovery {
  const all = [ns('user', 1), ...ids.map(i => ns('net', i))]
  return { root: 'user:1', namespaces: new Map(all.map(n => [`${n.type}:${n.id}` as NsKey, n])), scannedAt: 1, durationMs: 1 }
}

function setup (t: { teardown: (fn: () => void) => void }): { keeper: NameKeeper, store: OverlayStore, lines: string[], dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-keeper-'))
  t.teardown(() => { fs.rmSync(dir, { recursive: true, force: true }) })
  const lines: string[] = []
  const log = (level: string, msg: string): void => { lines.push(`${level}: ${msg}`) }
  const store = new OverlayStore(dir, 'boot', log)
  return { keeper: new NameKeeper(store, store.load(), new TreeBuilder(Buffer.from('00', 'hex')), log), store, lines, dir }
}

function onDisk (store: OverlayStore): string[] {
  return [...(readOverlayFile(store.file)?.names.values() ?? [])].map(e => `${e.path}=${e.key}`).sort()
}

t.test('a rename is on disk when it is served', async t => {
  const { keeper, store } = setup(t)
  let tree = keeper.update(discovery([2, 3])).tree
  const name2 = [...tree.root.entries].find(([, n]) => n.ns.id === '2')?.[0] as string
  tree = keeper.rename(tree, planRename(tree, `/${name2}`, '/web'))
  t.equal(lookup(tree, '/web')?.ns.id, '2')
  t.same(onDisk(store), ['/web=net:2'])
  t.equal(keeper.rename(tree, { kind: 'none' }), tree, 'nothing to do: the same tree')
  tree = keeper.update(discovery([2, 3])).tree
  t.equal(lookup(tree, '/web')?.ns.id, '2', 'the next scan keeps it')
})

t.test('a scan forgets the dead and saves that', async t => {
  const { keeper, store } = setup(t)
  let tree = keeper.update(discovery([2, 3])).tree
  const name3 = [...tree.root.entries].find(([, n]) => n.ns.id === '3')?.[0] as string
  tree = keeper.rename(tree, planRename(tree, `/${name3}`, '/db'))
  t.same(onDisk(store), ['/db=net:3'])
  keeper.update(discovery([2])).tree
  t.same(onDisk(store), [], 'forgotten on disk')
  tree = keeper.update(discovery([2, 3])).tree
  t.notOk(tree.root.entries.has('db'), 'and not given back')
})

t.test('a save that fails: the rename is refused, a forget is retried', async t => {
  const { keeper, store, lines, dir } = setup(t)
  let tree = keeper.update(discovery([2, 3])).tree
  const name2 = [...tree.root.entries].find(([, n]) => n.ns.id === '2')?.[0] as string
  tree = keeper.rename(tree, planRename(tree, `/${name2}`, '/web'))
  fs.mkdirSync(`${store.file}.tmp`)
  t.throws(() => keeper.rename(tree, planRename(tree, '/web', '/www')), { code: 'EIO' })
  t.match(lines.join('\n'), /error: rename not recorded: cannot save the name table/)
  t.same(onDisk(store), ['/web=net:2'], 'the file is unchanged')
  const again = keeper.update(discovery([3])).tree
  t.ok(again.root.entries.size > 0, 'a scan is served even when the forget cannot be saved')
  t.same(onDisk(store), ['/web=net:2'], 'not yet saved')
  fs.rmdirSync(`${store.file}.tmp`)
  const name3 = [...again.root.entries].find(([, n]) => n.ns.id === '3')?.[0] as string
  keeper.rename(again, planRename(again, `/${name3}`, '/db'))
  t.same(onDisk(store), ['/db=net:3'], 'the next save writes the whole table')
  t.ok(fs.existsSync(dir))
})
