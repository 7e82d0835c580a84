// listns(2) against recorded answers: this kernel lacks the call, so the
// paging and parsing are driven by a fake that answers as 6.19 does.
import t from 'tap'
import os from 'node:os'
import { encodeRequest, Listns, NS_ID_REQ_SIZE, type ListnsCall } from '../src/kernel/listns.js'

// A kernel that knows `ids` by type and answers ids greater than the
// request's ns_id, at most as many as fit.
function recorded (ids: Record<number, bigint[]>, calls: Buffer[] = []): ListnsCall {
  return (req, out) => {
    calls.push(Buffer.from(req))
    const after = req.readBigUInt64LE(8)
    const type = req.readUInt32LE(16)
    const all = type === 0 ? Object.values(ids).flat().sort((a, b) => (a < b ? -1 : 1)) : ids[type] ?? []
    const page = all.filter(id => id > after).slice(0, out.length / 8)
    page.forEach((id, i) => out.writeBigUInt64LE(id, i * 8))
    return page.length
  }
}

t.test('request layout is struct ns_id_req', async t => {
  const req = encodeRequest(77n, 'net', 5n)
  t.equal(req.length, NS_ID_REQ_SIZE)
  t.equal(req.readUInt32LE(0), 32, 'size')
  t.equal(req.readUInt32LE(4), 0, 'spare')
  t.equal(req.readBigUInt64LE(8), 77n, 'ns_id: last id seen')
  t.equal(req.readUInt32LE(16), 0x40000000, 'ns_type: CLONE_NEWNET')
  t.equal(req.readUInt32LE(20), 0, 'spare2')
  t.equal(req.readBigUInt64LE(24), 5n, 'user_ns_id')
  t.equal(encodeRequest(0n, null, 0n).readUInt32LE(16), 0, 'all types')
})

t.test('ENOSYS means absent, as on this kernel', async t => {
  t.equal(Listns.detect(() => -os.constants.errno.ENOSYS), undefined)
  t.equal(Listns.detect(), undefined, 'the running kernel (6.18) has no listns')
  t.throws(() => Listns.detect(() => -os.constants.errno.EFAULT), /probe failed/)
})

t.test('ids are listed per type, page by page', async t => {
  const many = Array.from({ length: 600 }, (_, i) => BigInt(5000 + i))
  const calls: Buffer[] = []
  const l = Listns.detect(recorded({ 0x40000000: [4n, 9n], 0x04000000: many }, calls))
  if (l === undefined) throw new Error('recorded kernel has listns')
  t.same(l.ids('net'), [4n, 9n])
  calls.length = 0
  t.same(l.ids('uts'), many, 'all 600 across three pages')
  t.same(calls.map(c => c.readBigUInt64LE(8)), [0n, 5255n, 5511n], 'each page starts after the last id seen')
  t.same(l.ids('time'), [])
  const failing = Listns.detect((req, out) => req.readUInt32LE(16) === 0 ? 0 : -os.constants.errno.EPERM)
  t.throws(() => failing?.ids('net'), /listns\(2\) failed/)
})
