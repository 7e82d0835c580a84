// The describer against real namespaces.
import t from 'tap'
import fs from 'node:fs'
import { NsReader } from '../src/kernel/describe.js'
import { DescribeCache } from '../src/discover/describe-cache.js'
import { NS_GET_ID, NS_GET_NSTYPE, NS_GET_OWNER_UID, NS_GET_PARENT, NS_GET_USERNS } from '../src/kernel/ns-ioctl.js'
import { readNsLink } from '../src/kernel/procfs.js'
import { nsKey } from '../src/model/namespace.js'
import { startHolder, waitFor } from './lib/harness.js'

const skip = process.getuid?.() !== 0 ? 'needs root' : undefined

t.test('ioctl numbers match linux/nsfs.h', async t => {
  t.equal(NS_GET_USERNS, 0xb701)
  t.equal(NS_GET_PARENT, 0xb702)
  t.equal(NS_GET_NSTYPE, 0xb703)
  t.equal(NS_GET_OWNER_UID, 0xb704)
  t.equal(NS_GET_ID, 0x8008b70d)
})

function openFds (): number {
  return fs.readdirSync('/proc/self/fd').length
}

t.test('describes a namespace, its owner and parents, and closes what it opened', { skip }, async t => {
  const h = await startHolder(t, ['unshare', '--user', '--map-user=0', '--map-group=0', '--net', '--pid', '--fork', '--kill-child'], { comm: 'unshare' })
  // The forked child exists only once unshare(2) is done.
  await waitFor('the forked child', () => fs.readFileSync(`/proc/${h.pid}/task/${h.pid}/children`, 'utf8').trim() || undefined)
  const reader = new NsReader()
  const d = new DescribeCache(reader)
  t.ok(reader.hasNsGetId, 'Linux 6.18 has NS_GET_ID')
  const fds = openFds()
  const link = (type: string) => readNsLink(`/proc/${h.pid}/ns/${type}`)
  const net = d.describe(`/proc/${h.pid}/ns/net`, 'net', link('net')?.ino ?? 0, true)
  const user = d.describe(`/proc/${h.pid}/ns/user`, 'user', link('user')?.ino ?? 0, true)
  const initUser = d.describe('/proc/self/ns/user', 'user', readNsLink('/proc/self/ns/user')?.ino ?? 0, true)
  const pidLink = readNsLink(`/proc/${h.pid}/ns/pid_for_children`)
  const pidNs = d.describe(`/proc/${h.pid}/ns/pid_for_children`, 'pid', pidLink?.ino ?? 0, true)
  t.equal(openFds(), fds, 'no fd left open')
  if (net === undefined || user === undefined || initUser === undefined || pidNs === undefined) throw new Error('not described')

  t.match(net.id, /^\d+$/)
  t.equal(net.ino, link('net')?.ino)
  t.equal(net.owner, nsKey(user), 'the net namespace is owned by the new user namespace')
  t.equal(net.parent, null, 'only user and pid namespaces have parents')
  t.equal(user.owner, nsKey(initUser))
  t.equal(user.parent, nsKey(initUser), 'a user namespace\'s parent is its owner')
  t.equal(user.ownerUid, 0)
  t.equal(initUser.owner, null, 'the initial user namespace has no owner in view')
  t.equal(pidNs.owner, nsKey(user))
  t.equal(pidNs.parent?.startsWith('pid:'), true, 'a pid namespace has a parent')
  t.not(pidNs.parent, nsKey(pidNs))
  t.same(d.lineage(nsKey(net)).map(nsKey), [nsKey(net), nsKey(user), nsKey(initUser)])
  t.same(d.lineage(nsKey(pidNs)).map(m => m.type).sort(), ['pid', 'pid', 'user', 'user'])

  t.equal(d.describe(`/proc/${h.pid}/ns/net`, 'net', 12345, true), undefined, 'an inode that does not match is refused')
  t.equal(d.describe('/proc/999999999/ns/net', 'net', 1, true), undefined, 'a vanished holder')
  t.equal(d.describe(`/proc/${h.pid}/ns/net`, 'net', net.ino, false), net, 'cached by inode')
  d.evict([nsKey(net), 'net:404'])
  t.not(d.describe(`/proc/${h.pid}/ns/net`, 'net', net.ino, false), net, 'forgotten when told')
})
