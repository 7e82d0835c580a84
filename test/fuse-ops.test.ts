import t from 'tap'
import { FuseOps, type Answer } from '../src/fuse/ops.js'
import { ROOT_ID } from '../src/fuse/inodes.js'
import { ENTRY_OUT_SIZE, FATTR_SIZE, IN_HEADER_SIZE, OP, OUT_HEADER_SIZE, packDirents, readInHeader, writeReplyHeader } from '../src/fuse/protocol.js'
import { METADATA_FILE } from '../src/model/metadata.js'
import { nsKey, type Namespace } from '../src/model/namespace.js'
import { TreeBuilder } from '../src/model/tree.js'
import type { Tree } from '../src/model/tree-node.js'
import { CACHE_SECONDS, Vfs } from '../src/vfs/vfs.js'
import { discovery, fakeAccess, ns, ROOT_CALLER, task } from './lib/snapshot.js'

const root = ns('user', 1, { ownerUid: 0, holders: [task(2, 2, 0)] })
const child = ns('user', 3, { owner: nsKey(root), parent: nsKey(root), ownerUid: 1000, holders: [task(40)] })
const net = ns('net', 4, { owner: nsKey(child), holders: [task(40, 41), task(50)] })
const ipc = ns('ipc', 5, { owner: nsKey(root), holders: [task(77)] })
const builder = new TreeBuilder(Buffer.from('aa', 'hex'))
let tree: Tree = builder.build(discovery(root, [child, net, ipc]))
const path = (n: Namespace): string => `/proc/${n.holders[0]?.kind === 'task' ? n.holders[0].tid : 0}/ns/${n.type}`
const logged: string[] = []
let renamed: string[] = []
const vfs = new Vfs(() => tree, fakeAccess(() => tree, n => n.type === 'uts' ? undefined : path(n)), plan => {
  if (plan.kind === 'set' && plan.name === 'boom') throw new Error('disk on fire')
  renamed.push(plan.kind === 'none' ? '' : plan.name)
})
const ops = new FuseOps(vfs, (level, msg) => logged.push(`${level}: ${msg}`))

let unique = 1n
function call (opcode: number, nodeid: bigint, args: Buffer = Buffer.alloc(0)): Answer {
  const head = Buffer.alloc(IN_HEADER_SIZE)
  head.writeUInt32LE(IN_HEADER_SIZE + args.length, 0)
  head.writeUInt32LE(opcode, 4)
  head.writeBigUInt64LE(unique++, 8)
  head.writeBigUInt64LE(nodeid, 16)
  head.writeUInt32LE(ROOT_CALLER.pid, 32)
  const req = Buffer.concat([head, args])
  return ops.handle(readInHeader(req), req.subarray(IN_HEADER_SIZE))
}
function body (a: Answer): Buffer {
  if (a.kind !== 'ok' || a.body === undefined) throw new Error(`expected a reply body, got ${JSON.stringify(a)}`)
  return a.body
}
const name = (s: string): Buffer => Buffer.from(`${s}\0`)
const u64 = (...ns: Array<number | bigint>): Buffer => {
  const b = Buffer.alloc(8 * ns.length)
  ns.forEach((n, i) => b.writeBigUInt64LE(BigInt(n), i * 8))
  return b
}
const readIn = (fh: number, offset: number, size: number): Buffer => Buffer.concat([u64(fh, offset), Buffer.from([size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, 0]), Buffer.alloc(12)])
// Node id and mode of a fuse_entry_out.
const entry = (b: Buffer): { id: bigint, mode: number, size: number, entryValid: bigint } => ({ id: b.readBigUInt64LE(0), entryValid: b.readBigUInt64LE(16), mode: b.readUInt32LE(40 + 60), size: Number(b.readBigUInt64LE(48)) })

function dirents (b: Buffer, plus: boolean): Array<{ name: string, off: number, type: number, id: bigint }> {
  const out = []
  let at = 0
  while (at < b.length) {
    const head = plus ? ENTRY_OUT_SIZE : 0
    const len = b.readUInt32LE(at + head + 16)
    out.push({ id: plus ? b.readBigUInt64LE(at) : 0n, off: Number(b.readBigUInt64LE(at + head + 8)), type: b.readUInt32LE(at + head + 20), name: b.toString('utf8', at + head + 24, at + head + 24 + len) })
    at += (head + 24 + len + 7) & ~7
  }
  return out
}

function readdir (path: string): string[] {
  const view = vfs.view(ROOT_CALLER)
  const e = vfs.resolve(path, view)
  return e.kind === 'dir' ? [...vfs.list(e, view).names] : []
}
const childDir = readdir('/').find(n => n.startsWith('user-')) as string
const ipcName = readdir('/').find(n => n.startsWith('ipc-')) as string
const netName = readdir(`/${childDir}`).find(n => n.startsWith('net-')) as string

t.test('lookup hands out one node per thing, and getattr answers for it', async t => {
  const dir = entry(body(call(OP.LOOKUP, ROOT_ID, name(childDir))))
  t.equal(dir.mode & 0o170000, 0o040000, 'a directory')
  t.equal(dir.entryValid, BigInt(CACHE_SECONDS), 'a default name is kept')
  t.equal(entry(body(call(OP.LOOKUP, ROOT_ID, name(childDir)))).id, dir.id, 'the same node again')
  const link = entry(body(call(OP.LOOKUP, dir.id, name(netName))))
  t.equal(link.mode, 0o120777)
  t.equal(link.size, '/proc/40/task/41/ns/net'.length, 'the size of the first holder\'s path')
  t.equal(ops.pathOf(link.id), `/${childDir}/${netName}`)
  t.equal(entry(body(call(OP.LOOKUP, dir.id, name('user')))).entryValid, 0n, '`user` is asked for every time')
  const meta = body(call(OP.LOOKUP, dir.id, name(METADATA_FILE)))
  t.equal(meta.readBigUInt64LE(24), 0n, 'the metadata file\'s attributes are never kept: its size changes')
  t.same(call(OP.LOOKUP, dir.id, name('nope')), { kind: 'error', errno: 2 })
  const attr = body(call(OP.GETATTR, link.id, Buffer.alloc(16)))
  t.equal(attr.readBigUInt64LE(0), BigInt(CACHE_SECONDS), 'attr_valid')
  t.equal(attr.readBigUInt64LE(16), link.id, 'ino is the node id')
  t.equal(body(call(OP.READLINK, link.id)).toString(), '/proc/41/ns/net')
  t.same(call(OP.GETATTR, 999n), { kind: 'error', errno: 2 }, 'an unknown node')
})

t.test('readdirplus lists with nodes and resumes at its offsets', async t => {
  const fh = Number(body(call(OP.OPENDIR, ROOT_ID, Buffer.alloc(8))).readBigUInt64LE(0))
  const all = dirents(body(call(OP.READDIRPLUS, ROOT_ID, readIn(fh, 0, 4096))), true)
  t.same(all.map(e => e.name).slice(0, 2), ['.', '..'])
  t.same(all.map(e => e.name).slice(2).sort(), readdir('/').sort())
  t.same(all.map(e => e.off), all.map((_, i) => i + 1), 'each offset is that of the next entry')
  t.equal(all[0]?.id, 0n, 'no node for . and ..')
  t.ok(all.slice(2).every(e => e.id > ROOT_ID), 'a node for every entry')
  const tail = dirents(body(call(OP.READDIRPLUS, ROOT_ID, readIn(fh, 3, 4096))), true)
  t.same(tail.map(e => e.name), all.slice(3).map(e => e.name), 'resumes after offset 3')
  t.equal(body(call(OP.READDIRPLUS, ROOT_ID, readIn(fh, all.length, 4096))).length, 0, 'then the end')
  const one = dirents(body(call(OP.READDIRPLUS, ROOT_ID, readIn(fh, 2, ENTRY_OUT_SIZE + 48))), true)
  t.equal(one.length, 1, 'as many as fit')
  const plain = dirents(body(call(OP.READDIR, ROOT_ID, readIn(fh, 0, 4096))), false)
  t.same(plain.map(e => e.name), all.map(e => e.name), 'plain readdir lists the same')
  t.same(plain.find(e => e.name === childDir)?.type, 4, 'with d_type')
  t.same(call(OP.RELEASEDIR, ROOT_ID, readIn(fh, 0, 0)), { kind: 'ok' })
  t.same(call(OP.READDIRPLUS, ROOT_ID, readIn(fh, 0, 4096)), { kind: 'error', errno: 9 }, 'EBADF once released')
})

t.test('forget drops nodes once every lookup is forgotten', async t => {
  const id = entry(body(call(OP.LOOKUP, ROOT_ID, name(ipcName)))).id
  const lookups = ops.nodes.get(id)?.lookups ?? 0
  t.ok(lookups >= 1)
  t.same(call(OP.FORGET, id, u64(lookups - 1)), { kind: 'none' }, 'FORGET is not answered')
  t.ok(ops.nodes.get(id) !== undefined, 'still known')
  const batch = Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), u64(id, 1)])
  t.same(call(OP.BATCH_FORGET, 0n, batch), { kind: 'none' })
  t.equal(ops.nodes.get(id), undefined, 'forgotten')
  t.not(entry(body(call(OP.LOOKUP, ROOT_ID, name(ipcName)))).id, id, 'a new node id next time: ids are never reused')
})

t.test('metadata files open, read and release', async t => {
  const id = entry(body(call(OP.LOOKUP, ROOT_ID, name(METADATA_FILE)))).id
  const open = body(call(OP.OPEN, id, Buffer.alloc(8)))
  t.equal(open.readUInt32LE(8), 1, 'FOPEN_DIRECT_IO')
  const fh = Number(open.readBigUInt64LE(0))
  const text = body(call(OP.READ, id, readIn(fh, 0, 65536))).toString()
  t.match(JSON.parse(text), { directory: { path: '/' } })
  t.equal(body(call(OP.READ, id, readIn(fh, 2, 3))).toString(), text.slice(2, 5))
  t.same(call(OP.RELEASE, id, readIn(fh, 0, 0)), { kind: 'ok' })
  t.same(call(OP.OPEN, id, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])), { kind: 'error', errno: 30 }, 'O_WRONLY → EROFS')
})

t.test('rename maps paths, flags and errors', async t => {
  const dir = entry(body(call(OP.LOOKUP, ROOT_ID, name(childDir)))).id
  const link = entry(body(call(OP.LOOKUP, dir, name(netName)))).id
  renamed = []
  t.same(call(OP.RENAME2, dir, Buffer.concat([u64(dir), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), name(netName), name('web')])), { kind: 'ok' }, 'RENAME_NOREPLACE is what every rename does')
  t.same(renamed, ['web'])
  t.equal(ops.nodes.get(link)?.name, 'web', 'the node moved along')
  t.same(call(OP.RENAME2, dir, Buffer.concat([u64(dir), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), name(netName), name('web')])), { kind: 'error', errno: 22 }, 'RENAME_EXCHANGE → EINVAL')
  t.same(call(OP.RENAME, ROOT_ID, Buffer.concat([u64(dir), name(ipcName), name('x')])), { kind: 'error', errno: 18 }, 'across directories → EXDEV')
  t.same(call(OP.RENAME, ROOT_ID, Buffer.concat([u64(ROOT_ID), name(ipcName), name('x'.repeat(256))])), { kind: 'error', errno: 36 }, 'ENAMETOOLONG')
  t.same(call(OP.RENAME, ROOT_ID, Buffer.concat([u64(ROOT_ID), name(ipcName), name('boom')])), { kind: 'error', errno: 5 }, 'the unexpected is EIO')
  t.match(logged.join('\n'), /error: FUSE opcode 12 on node 1 for pid 1000: unexpected Error: disk on fire/, 'and logged with its context')
})

t.test('everything else is refused by errno', async t => {
  for (const op of [OP.SYMLINK, OP.MKNOD, OP.MKDIR, OP.UNLINK, OP.RMDIR, OP.LINK, OP.CREATE, OP.WRITE, OP.SETXATTR, OP.REMOVEXATTR]) {
    t.same(call(op, ROOT_ID, name('x')), { kind: 'error', errno: 30 }, `opcode ${op} → EROFS`)
  }
  const setattr = (valid: number): Buffer => { const b = Buffer.alloc(88); b.writeUInt32LE(valid, 0); return b }
  t.same(call(OP.SETATTR, ROOT_ID, setattr(FATTR_SIZE)), { kind: 'error', errno: 30 }, 'truncate → EROFS')
  t.same(call(OP.SETATTR, ROOT_ID, setattr(1)), { kind: 'error', errno: 1 }, 'chmod → EPERM')
  t.same(call(OP.GETXATTR, ROOT_ID, name('user.x')), { kind: 'error', errno: 38 }, 'ENOSYS: the kernel stops asking')
  t.same(call(OP.LISTXATTR, ROOT_ID), { kind: 'error', errno: 38 })
  t.same(call(OP.INTERRUPT, ROOT_ID, u64(1)), { kind: 'none' })
  t.same(call(OP.FLUSH, ROOT_ID), { kind: 'ok' })
  const statfs = body(call(OP.STATFS, ROOT_ID))
  t.equal(Number(statfs.readBigUInt64LE(24)), tree.discovery.namespaces.size, 'files: the namespaces')
  t.equal(statfs.readUInt32LE(44), 255, 'namelen')
})

t.test('invalidations follow the tree', async t => {
  ops.invalidations({ kind: 'whole' })
  const dir = entry(body(call(OP.LOOKUP, ROOT_ID, name(childDir)))).id
  // The recorder above only records: the tree still shows the default name.
  const link = entry(body(call(OP.LOOKUP, dir, name(netName)))).id
  call(OP.READLINK, link)
  const ipcId = entry(body(call(OP.LOOKUP, ROOT_ID, name(ipcName)))).id
  call(OP.GETATTR, ROOT_ID, Buffer.alloc(16))
  t.same(ops.invalidations({ kind: 'whole' }), [], 'nothing changed, nothing to say')
  // The net namespace's first holder exits; the ipc namespace dies.
  const net2 = { ...net, holders: [task(50)] }
  tree = builder.build(discovery(root, [child, net2]))
  const change = { kind: 'dirs' as const, dirs: [
    { dir: nsKey(root), removed: [ipcName], added: [], changed: [] },
    { dir: nsKey(child), removed: [], added: [], changed: [netName] },
    { dir: 'user:404' as const, removed: ['x'], added: [], changed: [] },
  ] }
  const notes = ops.invalidations(change).map(b => ({ code: b.readInt32LE(4), node: b.readBigUInt64LE(16), name: b.readInt32LE(4) === 3 ? b.toString('utf8', 32, 32 + b.readUInt32LE(24)) : '' }))
  t.same(notes.sort((a, b) => a.code - b.code), [
    { code: 2, node: link, name: '' },
    { code: 3, node: ROOT_ID, name: ipcName },
  ].sort((a, b) => a.code - b.code), 'the dead entry, and the handle whose size (its first holder) changed')
  t.same(ops.invalidations({ kind: 'whole' }), [], 'the change named everything there was to say')
  t.ok(ipcId > 0n)
  t.same(call(OP.GETATTR, ipcId, Buffer.alloc(16)), { kind: 'error', errno: 2 }, 'the dead node answers ENOENT')
  tree = builder.build(discovery(root, [net2]))
  const gone = ops.invalidations({ kind: 'whole' })
  t.ok(gone.some(b => b.readInt32LE(4) === 3 && b.readBigUInt64LE(16) === ROOT_ID), 'a directory that went is invalidated by name')
})

t.test('protocol encoding', async t => {
  const request = Buffer.alloc(IN_HEADER_SIZE)
  request.writeBigUInt64LE(7n, 8)
  const r = Buffer.alloc(OUT_HEADER_SIZE)
  t.equal(writeReplyHeader(r, request, -2, 0), OUT_HEADER_SIZE)
  t.equal(r.readInt32LE(4), -2)
  t.equal(r.readBigUInt64LE(8), 7n)
  const packed = packDirents([{ name: 'abc', ino: 9n, type: 10 }, { name: 'defghijk', ino: 10n, type: 4 }], 5, 1000, false)
  t.equal(packed.count, 2)
  t.equal(packed.buf.length, 32 + 32, 'records padded to 8 bytes')
  t.same(dirents(packed.buf, false).map(e => [e.name, e.off, e.type]), [['abc', 6, 10], ['defghijk', 7, 4]])
})

t.test('a readlink in listing order has the next link checked while the device is idle', async t => {
  const nets = [20, 21, 22, 23].map(id => ns('net', id, { owner: nsKey(root), holders: [task(id * 10)] }))
  const here = builder.build(discovery(root, [child, ...nets]))
  const checked: string[] = []
  const access = { ...fakeAccess(() => here, path), checkAhead: (n: Namespace) => { checked.push(nsKey(n)) } }
  const ops = new FuseOps(new Vfs(() => here, access, () => {}), () => {})
  const ask = (opcode: number, nodeid: bigint, args: Buffer = Buffer.alloc(0)): Buffer => {
    const head = Buffer.alloc(IN_HEADER_SIZE)
    head.writeUInt32LE(IN_HEADER_SIZE + args.length, 0)
    head.writeUInt32LE(opcode, 4)
    head.writeBigUInt64LE(nodeid, 16)
    head.writeUInt32LE(ROOT_CALLER.pid, 32)
    return body(ops.handle(readInHeader(head), args))
  }
  const fh = Number(ask(OP.OPENDIR, ROOT_ID, Buffer.alloc(8)).readBigUInt64LE(0))
  const listed = dirents(ask(OP.READDIRPLUS, ROOT_ID, readIn(fh, 0, 65536)), true).slice(2)
  const keyOf = (name: string | undefined): string | undefined => {
    const node = name === undefined ? undefined : here.root.entries.get(name)
    return node?.kind === 'link' ? nsKey(node.ns) : undefined
  }
  const S_IFLNK_TYPE = 10
  const links = listed.filter(e => e.type === S_IFLNK_TYPE)
  t.ok(links.length >= 5, 'the user namespace\'s handle and four nets')
  t.ok(listed.some(e => e.type !== S_IFLNK_TYPE), 'and entries of other kinds between or after them')
  const read = (i: number): string[] => {
    const before = checked.length
    ask(OP.READLINK, (links[i] as { id: bigint }).id)
    ops.idle()
    ops.idle()
    return checked.slice(before)
  }
  // The link a caller reading `links[i]` in order comes to next.
  const next = (i: number): string[] => {
    const at = listed.indexOf(links[i] as typeof listed[number])
    const after = listed.slice(at + 1, at + 5).find(e => e.type === S_IFLNK_TYPE)
    return after === undefined ? [] : [keyOf(after.name) as string]
  }
  ops.idle()
  t.same(checked, [], 'nothing is due before a readlink')
  t.equal(next(0).length + next(1).length + next(3).length, 3, 'each of these reads has a link after it')
  t.same(read(0), next(0), 'the next link is checked, once')
  t.same(read(1), next(1))
  t.same(read(3), next(3), 'one skipped: the reader is found a little further on')
  t.same(read(0), [], 'a readlink behind the reader predicts nothing')
  const again = Number(ask(OP.OPENDIR, ROOT_ID, Buffer.alloc(8)).readBigUInt64LE(0))
  const head = Buffer.alloc(IN_HEADER_SIZE)
  head.writeUInt32LE(OP.RELEASEDIR, 4)
  t.same(ops.handle(readInHeader(head), u64(again, 0)), { kind: 'ok' }, 'listed again, and closed')
  t.same(read(0), [], 'a closed listing predicts nothing')
})

t.test('the kernel may keep a directory\'s listing for privileged callers, until it changes', async t => {
  const here = builder.build(discovery(root, [child, net, ipc]))
  const ops = new FuseOps(new Vfs(() => here, fakeAccess(() => here, path), () => {}), () => {})
  const ask = (opcode: number, nodeid: bigint, args: Buffer = Buffer.alloc(0), pid = ROOT_CALLER.pid): Answer => {
    const head = Buffer.alloc(IN_HEADER_SIZE)
    head.writeUInt32LE(opcode, 4)
    head.writeBigUInt64LE(nodeid, 16)
    head.writeUInt32LE(pid, 32)
    return ops.handle(readInHeader(head), args)
  }
  // Opens, reads whole and closes a directory: the FOPEN flags it had.
  const list = (nodeid: bigint, pid = ROOT_CALLER.pid): number => {
    const open = body(ask(OP.OPENDIR, nodeid, Buffer.alloc(8), pid))
    const fh = Number(open.readBigUInt64LE(0))
    for (let off = 0, got = 1; got > 0;) {
      const d = dirents(body(ask(OP.READDIRPLUS, nodeid, readIn(fh, off, 65536), pid)), true)
      got = d.length
      off = d.at(-1)?.off ?? off
    }
    ask(OP.RELEASEDIR, nodeid, u64(fh, 0), pid)
    return open.readUInt32LE(8)
  }
  const FOPEN_KEEP_CACHE = 2
  const FOPEN_CACHE_DIR = 8
  t.equal(list(ROOT_ID), FOPEN_CACHE_DIR, 'filled by the first listing')
  t.equal(list(ROOT_ID), FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE, 'then kept')
  const containers = entry(body(ask(OP.LOOKUP, ROOT_ID, name('containers')))).id
  t.equal(list(containers), 0, 'the containers directory: never (engines rename containers with no word to us)')
  const notes = ops.invalidations({ kind: 'dirs', dirs: [{ dir: nsKey(root), removed: [], added: ['x'], changed: [] }] })
  t.ok(notes.some(b => b.readInt32LE(4) === 2 && b.readBigUInt64LE(16) === ROOT_ID), 'a change invalidates the kernel\'s copy')
  t.equal(list(ROOT_ID), FOPEN_CACHE_DIR, 'and it is filled anew')
  t.equal(list(ROOT_ID, 0), 0, 'a caller who sees only part of it: no copy')
  t.equal(list(ROOT_ID), FOPEN_CACHE_DIR, 'which dropped the kernel\'s')
})
