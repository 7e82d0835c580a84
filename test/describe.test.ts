// The describer against the real kernel: our own namespaces.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { NsReader } from '../src/kernel/describe.js'
import { DescribeCache } from '../src/discover/describe-cache.js'

const skip = process.getuid?.() !== 0 ? 'needs root' : undefined

t.test('describing by path and by id', { skip }, async t => {
  const reader = new NsReader()
  const d = new DescribeCache(reader)
  const st = fs.statSync('/proc/self/ns/net')
  const meta = d.describe('/proc/self/ns/net', 'net', st.ino, true)
  t.match(meta, { type: 'net', dev: st.dev, ino: st.ino, parent: null, ownerUid: null })
  t.equal(meta?.key, meta?.id == null ? `net:${st.dev}:${st.ino}` : `net:${meta.id}`, 'its key, made once, is the one its identity gives')
  t.equal(d.describe('/proc/self/ns/net', 'net', st.ino + 1, true), undefined, 'another inode than readlink said: the holder moved')
  t.equal(d.describe('/proc/999999999/ns/net', 'net', st.ino, true), undefined, 'a holder that is gone')
  const fifo = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-fifo-')), 'fifo')
  t.teardown(() => fs.rmSync(path.dirname(fifo), { recursive: true, force: true }))
  t.equal(spawnSync('mkfifo', [fifo]).status, 0)
  t.equal(d.describe(fifo, 'net', fs.statSync(fifo).ino, true), undefined, 'a FIFO where a holder was: no wait for a writer, and no namespace')
  if (meta?.id == null) return
  // listns(2) gives ids only; on 6.18 an nsfs file handle also needs the
  // inode, so opening by id alone may be refused. Either way it must never
  // describe another namespace, nor throw.
  const byId = d.describeById('net', BigInt(meta.id))
  if (byId !== undefined) t.match(byId, { dev: st.dev, ino: st.ino })
  else t.pass('refused by this kernel without the inode')
  t.equal(d.describeById('net', 0xfffffffffffn), undefined, 'an id that does not exist')
  const user = d.lineage(`net:${meta.id}`)
  t.ok(user.some(m => m.type === 'user'), 'its owner is in its lineage')
})
