import t from 'tap'
import { Discoverer } from '../src/discover/discover.js'
import type { NsDescription } from '../src/kernel/describe.js'
import type { NsDescriber } from '../src/discover/describe-cache.js'
import { nsKey, type NsKey, type NsType } from '../src/model/namespace.js'
import { FakeProc } from './lib/fixture.js'

// Describes by inode from a table, recording every call.
class FakeDescriber implements NsDescriber {
  calls: Array<{ path: string, ino: number, fresh: boolean }> = []
  metas = new Map<NsKey, NsDescription>()
  constructor (private readonly table: Map<number, NsDescription>) {}
  describe (path: string, _type: NsType, ino: number, fresh: boolean): NsDescription | undefined {
    this.calls.push({ path, ino, fresh })
    const m = this.table.get(ino)
    if (m !== undefined) this.metas.set(nsKey(m), m)
    return m
  }

  // These fixtures have no listns(2), so nothing is looked up by id.
  describeById (): NsDescription | undefined { return undefined }

  lineage (key: NsKey): NsDescription[] {
    const out: NsDescription[] = []
    for (let m = this.metas.get(key); m !== undefined; m = m.owner === null ? undefined : this.metas.get(m.owner)) {
      out.push(m)
      if (m.owner === nsKey(m)) break
    }
    return out
  }

  forgotten: NsKey[] = []
  evict (keys: Iterable<NsKey>): void { this.forgotten.push(...keys) }
}

function meta (type: NsType, id: number, ino: number, owner: NsKey | null): NsDescription {
  return { type, id: String(id), dev: 4, ino, owner, parent: null, ownerUid: type === 'user' ? 0 : null }
}

t.test('a pass groups holders by namespace and describes each once', async t => {
  const proc = new FakeProc(t)
  proc.add({ pid: 1, start: 10, ns: { user: 100, net: 200 } })
  proc.add({ pid: 5, start: 50, ns: { user: 100, net: 201 } })
  proc.add({ pid: 5, tid: 6, start: 51, ns: { user: 100, net: 200 } })
  const user = meta('user', 1, 100, null)
  const table = new Map([[100, user], [200, meta('net', 2, 200, 'user:1')], [201, meta('net', 3, 201, 'user:1')]])
  const describer = new FakeDescriber(table)
  const d = new Discoverer(proc.root, describer, 1)
  t.throws(() => d.takeDelta(), /no discovery pass has run yet/)
  const snap = d.run()
  t.ok(d.pending)
  const first = d.takeDelta()
  t.same(first.upserted.map(n => `${n.type}:${n.id}`).sort(), ['net:2', 'net:3', 'user:1'], 'the first delta has everything')
  t.same(first.removed, [])
  t.notOk(d.pending, 'taken')
  t.equal(snap.root, 'user:1')
  t.same([...snap.namespaces.keys()].sort(), ['net:2', 'net:3', 'user:1'])
  t.same(snap.namespaces.get('net:2')?.holders, [
    { kind: 'task', pid: 1, tid: 1, start: 10 },
    { kind: 'task', pid: 5, tid: 6, start: 51 },
  ], 'oldest holder first, threads included')
  t.ok(describer.calls.every(c => c.fresh || c.path.endsWith('/1/ns/user')), 'first sighting is described fresh')

  describer.calls = []
  d.run()
  t.ok(describer.calls.filter(c => c.ino !== 100).every(c => !c.fresh), 'same holders: the cache may answer')

  // pid 5 exits; its inode 201 is reused by a new namespace held by pid 9.
  proc.remove(5)
  proc.add({ pid: 9, start: 90, ns: { user: 100, net: 201 } })
  table.set(201, meta('net', 4, 201, 'user:1'))
  describer.calls = []
  const after = d.run()
  t.ok(describer.calls.find(c => c.ino === 201)?.fresh, 'no holder in common: described afresh')
  t.ok(after.namespaces.has('net:4'))
  t.notOk(after.namespaces.has('net:3'), 'the dead one is gone')
  t.same(describer.forgotten, ['net:3'], 'and forgotten by the describer')
  const delta = d.takeDelta()
  t.same(delta.upserted.map(n => `${n.type}:${n.id}`).sort(), ['net:2', 'net:4', 'user:1'], 'the delta: what is new or lost holders')
  t.same(delta.removed, ['net:3'], 'and what is gone')
  t.equal(d.run(), after, 'nothing changed: the same snapshot')
})

t.test('a holder that vanishes or changes is skipped; the next one is tried', async t => {
  const proc = new FakeProc(t)
  proc.add({ pid: 1, start: 10, ns: { user: 100 } })
  proc.add({ pid: 2, start: 11, ns: { uts: 300 } })
  proc.add({ pid: 3, start: 12, ns: { uts: 301 } })
  const table = new Map([[100, meta('user', 1, 100, null)], [301, meta('uts', 5, 301, 'user:1')]])
  const snap = new Discoverer(proc.root, new FakeDescriber(table), 1).run()
  t.same([...snap.namespaces.keys()].sort(), ['user:1', 'uts:5'], 'uts 300 could not be described')
})

t.test('no root user namespace is fatal', async t => {
  const proc = new FakeProc(t)
  proc.add({ pid: 1, start: 10, ns: { net: 200 } })
  t.throws(() => new Discoverer(proc.root, new FakeDescriber(new Map()), 1).run(), /cannot describe the daemon's own user namespace/)
})
