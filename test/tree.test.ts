import t from 'tap'
import { nsKey } from '../src/model/namespace.js'
import { TreeBuilder } from '../src/model/tree.js'
import { lookup, SELF_ENTRY, type DirNode } from '../src/model/tree-node.js'
import { discovery, ns, task } from './lib/snapshot.js'

const seed = Buffer.from('01', 'hex')

t.test('user namespaces are directories, the rest entries of their owner', async t => {
  const root = ns('user', 1, { ownerUid: 0 })
  const rootNet = ns('net', 2, { owner: nsKey(root) })
  const child = ns('user', 3, { owner: nsKey(root), parent: nsKey(root), ownerUid: 1000, holders: [task(50)] })
  const childNet = ns('net', 4, { owner: nsKey(child), holders: [task(50)] })
  const grand = ns('user', 5, { owner: nsKey(child), parent: nsKey(child), ownerUid: 1000, holders: [] })
  const grandUts = ns('uts', 6, { owner: nsKey(grand), holders: [task(60)] })
  const tree = new TreeBuilder(seed).build(discovery(root, [rootNet, child, childNet, grand, grandUts]))

  const top = [...tree.root.entries.keys()].sort()
  t.equal(top.length, 3)
  t.ok(top.includes(SELF_ENTRY))
  t.match(top.find(n => n.startsWith('net-')), /^net-[0-9a-f]{12}$/)
  const childName = top.find(n => n.startsWith('user-')) as string
  const childDir = tree.root.entries.get(childName) as DirNode
  t.equal(childDir.kind, 'dir')
  t.equal(childDir.ns, child)
  t.same([...childDir.entries.keys()].filter(n => !n.startsWith('user-')).map(n => n.split('-')[0]).sort(), ['net', 'user'])
  const grandName = [...childDir.entries.keys()].find(n => n.startsWith('user-')) as string
  const grandDir = childDir.entries.get(grandName) as DirNode
  t.notOk(grandDir.entries.has(SELF_ENTRY), 'a holder-less user namespace has no handle')
  t.equal(grandDir.entries.size, 1)

  const leaf = lookup(tree, `/${childName}/${grandName}/${[...grandDir.entries.keys()][0] as string}`)
  t.equal(leaf?.kind, 'link')
  t.equal(leaf?.kind === 'link' ? leaf.ns : undefined, grandUts)
  t.equal(leaf?.kind === 'link' ? leaf.dir : undefined, grand, 'the entry knows its directory')
  t.equal(lookup(tree, '/'), tree.root)
  t.equal(lookup(tree, `/${childName}/nope`), undefined)
  t.equal(lookup(tree, `/${SELF_ENTRY}/below-a-link`), undefined)
})

t.test('an owner outside the view puts the namespace at the root', async t => {
  const root = ns('user', 1)
  const orphan = ns('net', 2, { owner: null })
  const unknownOwner = ns('ipc', 3, { owner: 'user:999' })
  const tree = new TreeBuilder(seed).build(discovery(root, [orphan, unknownOwner]))
  t.same([...tree.root.entries.keys()].map(n => n.split('-')[0]).sort(), ['ipc', 'net', 'user'])
})

t.test('names and first sightings are stable across builds', async t => {
  const root = ns('user', 1)
  const net = ns('net', 2, { owner: nsKey(root) })
  const b = new TreeBuilder(seed)
  const one = b.build(discovery(root, [net], 1000))
  const two = b.build(discovery(root, [net], 5000))
  t.same([...two.root.entries.keys()], [...one.root.entries.keys()])
  const name = [...one.root.entries.keys()].find(n => n.startsWith('net-')) as string
  t.equal(two.root.entries.get(name)?.firstSeen, 1000, 'first seen at the first scan')
  const three = b.build(discovery(root, [], 6000))
  t.notOk(three.root.entries.has(name), 'gone when it died')
  const four = b.build(discovery(root, [net], 7000))
  t.equal(four.root.entries.get(name)?.firstSeen, 7000, 'forgotten once gone')
  const other = new TreeBuilder(Buffer.from('02', 'hex')).build(discovery(root, [net]))
  t.notOk(other.root.entries.has(name), 'another seed, another name')
})

t.test('a missing root is an error', async t => {
  const root = ns('user', 1)
  const d = discovery(root, [])
  t.throws(() => new TreeBuilder(seed).build({ ...d, root: 'user:404' }), /root user namespace user:404 missing/)
})
