// The kernel's rules for who may see what, on hand-built discoveries.
import t from 'tap'
import { CAP_SYS_ADMIN, CAP_SYS_PTRACE, capable, mayReadTask, View, type TaskCredentials } from '../src/model/access.js'
import { nsKey } from '../src/model/namespace.js'
import { caller, discovery, ns } from './lib/snapshot.js'

// init ⊃ u1 (created by uid 1000) ⊃ u2 (created by uid 1000 inside, root
// there) ; init ⊃ other (created by uid 2000).
const init = ns('user', 1)
const u1 = ns('user', 2, { owner: nsKey(init), parent: nsKey(init), ownerUid: 1000 })
const u2 = ns('user', 3, { owner: nsKey(u1), parent: nsKey(u1), ownerUid: 1000 })
const other = ns('user', 4, { owner: nsKey(init), parent: nsKey(init), ownerUid: 2000 })
const hostNet = ns('net', 5, { owner: nsKey(init) })
const rootNet = ns('net', 6, { owner: nsKey(init) })
const u1Net = ns('net', 7, { owner: nsKey(u1) })
const u2Uts = ns('uts', 8, { owner: nsKey(u2) })
const otherNet = ns('net', 9, { owner: nsKey(other) })
const ALL = (1n << 41n) - 1n
const d = discovery(init, [u1, u2, other, hostNet, rootNet, u1Net, u2Uts, otherNet])

t.test('capable(): as cap_capable() decides', async t => {
  const root = caller([init, hostNet])
  t.ok(capable(d, root, nsKey(init), CAP_SYS_ADMIN), 'root in its own namespace, by its effective set')
  t.ok(capable(d, root, nsKey(u2), CAP_SYS_ADMIN), 'and below it')
  const dropped = caller([init, hostNet], { capEff: 0n })
  t.notOk(capable(d, dropped, nsKey(init), CAP_SYS_ADMIN), 'uid 0 without the capability is no one special')
  const creator = caller([init, hostNet], { uid: 1000 })
  t.notOk(capable(d, creator, nsKey(init), CAP_SYS_ADMIN))
  t.ok(capable(d, creator, nsKey(u1), CAP_SYS_ADMIN), 'the owner of a child of its own namespace has everything there')
  t.ok(capable(d, creator, nsKey(u2), CAP_SYS_ADMIN), 'and below')
  t.notOk(capable(d, creator, nsKey(other), CAP_SYS_ADMIN), 'not in a sibling owned by another')
  // Root in u1, which maps it to uid 1000 outside: every capability, there.
  const inside = caller([u1], { uid: 1000, capEff: ALL })
  t.ok(capable(d, inside, nsKey(u1), CAP_SYS_ADMIN), 'root of u1 (all capabilities there)')
  t.notOk(capable(d, inside, nsKey(init), CAP_SYS_ADMIN), 'uid 0 inside `unshare -Ur` is not privileged over the host')
  t.notOk(capable(d, inside, nsKey(other), CAP_SYS_ADMIN), 'nor over a namespace beside its own')
  t.notOk(capable(d, caller([u1], { uid: 1000, capEff: 0n }), nsKey(u1), CAP_SYS_ADMIN), 'without its capabilities, not even there')
  t.notOk(capable(d, { ...root, userns: 'user:404' }, nsKey(init), CAP_SYS_ADMIN), 'a namespace outside the discovery')
  t.notOk(capable(d, { ...root, userns: undefined }, nsKey(init), CAP_SYS_ADMIN))
})

t.test('mayReadTask(): ptrace read access', async t => {
  const task = (uid: number, extra: Partial<TaskCredentials> = {}): TaskCredentials => ({ ...caller([u1], { uid, tid: 77 }), capEff: 0n, dumpable: true, ...extra })
  const me = caller([init, hostNet], { uid: 1000, tid: 50 })
  t.ok(mayReadTask(d, me, { ...task(1000), userns: nsKey(init) }), 'the same uids and gids')
  t.notOk(mayReadTask(d, me, { ...task(1000, { suid: 0 }), userns: nsKey(init) }), 'one uid differs: a setuid program')
  t.notOk(mayReadTask(d, me, { ...task(1000, { dumpable: false }), userns: nsKey(init) }), 'not dumpable')
  t.ok(mayReadTask(d, me, { ...task(0), tgid: 50 }), 'its own thread group')
  t.notOk(mayReadTask(d, me, { ...task(0), userns: nsKey(init) }), 'root\'s process')
  t.ok(mayReadTask(d, me, { ...task(0), userns: nsKey(u2) }), 'CAP_SYS_PTRACE in the task\'s user namespace (it owns u1)')
  t.ok(mayReadTask(d, caller([init]), { ...task(3000, { dumpable: false }), userns: nsKey(init) }), 'root reads anything')
  t.notOk(mayReadTask(d, caller([init], { capEff: 1n << BigInt(CAP_SYS_ADMIN) }), { ...task(3000), userns: nsKey(init) }), 'CAP_SYS_ADMIN is not CAP_SYS_PTRACE')
  t.ok(mayReadTask(d, caller([init], { capEff: 1n << BigInt(CAP_SYS_PTRACE), uid: 5 }), { ...task(3000), userns: nsKey(init) }))
})

t.test('View: what listns(2) would list', async t => {
  const see = (v: View): string[] => [...d.namespaces].filter(([k, n]) => v.canSee(k, n)).map(([k]) => k).sort()
  const root = new View(d, caller([init, hostNet]))
  t.ok(root.privileged)
  t.equal(see(root).length, d.namespaces.size, 'root sees all')
  const creator = new View(d, caller([init, hostNet], { uid: 1000 }))
  t.notOk(creator.privileged)
  t.same(see(creator), [nsKey(init), nsKey(hostNet), nsKey(u1), nsKey(u2), nsKey(u1Net), nsKey(u2Uts)].sort(), 'its own namespaces, and what it owns')
  const stranger = new View(d, caller([init, hostNet], { uid: 3000 }))
  t.same(see(stranger), [nsKey(init), nsKey(hostNet)].sort(), 'a stranger: only what it is in')
  t.notOk(stranger.reaches(nsKey(u1), u1), 'and no directory it has no business in')
  const deep = new View(d, caller([u2, u2Uts], { uid: 1000, capEff: ALL }))
  t.same(see(deep), [nsKey(u2), nsKey(u2Uts)].sort(), 'inside u2: u2 and what u2 owns')
  t.notOk(deep.canSee(nsKey(u1), u1), 'not the namespace above')
  t.ok(deep.reaches(nsKey(u1), u1), 'whose directory is a passage to its own')
  t.notOk(deep.reaches(nsKey(other), other))
  t.equal(new View(d, undefined).privileged, false, 'an unknown caller is nobody')
  t.same(see(new View(d, undefined)), [])
})
