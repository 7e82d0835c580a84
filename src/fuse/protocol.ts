// The FUSE kernel protocol (linux/fuse.h), the part nsfs speaks: request
// headers and arguments in, replies and notifications out. Pure encoding, so
// tests can drive it without /dev/fuse.

// We ask for 7.31 (kernel 5.4+), which has everything used here: READDIRPLUS,
// FUSE_CACHE_SYMLINKS and FUSE_MAX_PAGES. The kernel answers with its own
// minor, and the lower of the two applies.
export const FUSE_KERNEL_VERSION = 7
export const FUSE_KERNEL_MINOR_VERSION = 31

export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  TMPFILE: 51,
} as const

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]))

// The name of an opcode, for log lines.
export function opName (opcode: number): string {
  return OP_NAMES.get(opcode) ?? `opcode ${opcode}`
}

// INIT flags we may ask for.
export const FUSE_ASYNC_READ = 1 << 0
export const FUSE_DO_READDIRPLUS = 1 << 13
export const FUSE_PARALLEL_DIROPS = 1 << 18
export const FUSE_MAX_PAGES = 1 << 22
export const FUSE_CACHE_SYMLINKS = 1 << 23

export const FOPEN_DIRECT_IO = 1 << 0
export const FOPEN_KEEP_CACHE = 1 << 1
export const FOPEN_CACHE_DIR = 1 << 3

export const FATTR_SIZE = 1 << 3

export const RENAME_NOREPLACE = 1 << 0

export const NOTIFY_INVAL_INODE = 2
export const NOTIFY_INVAL_ENTRY = 3

export const IN_HEADER_SIZE = 40
export const OUT_HEADER_SIZE = 16
const ATTR_SIZE = 88
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE
const DIRENT_HEADER = 24

export interface InHeader {
  readonly len: number
  readonly opcode: number
  readonly nodeid: bigint
  readonly uid: number
  readonly gid: number
  readonly pid: number
}

export function readInHeader (buf: Buffer): InHeader {
  return {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  }
}

// A NUL-terminated name in a request's arguments, and where the next begins.
export function readName (buf: Buffer, start: number): { name: string, next: number } {
  const end = buf.indexOf(0, start)
  const stop = end < 0 ? buf.length : end
  return { name: buf.toString('utf8', start, stop), next: stop + 1 }
}

// What the kernel caches of a node: struct fuse_attr.
export interface FuseAttr {
  readonly ino: bigint
  readonly size: number
  readonly mode: number
  readonly nlink: number
  readonly uid: number
  readonly gid: number
  // Milliseconds since the epoch, for atime, mtime and ctime alike.
  readonly timeMs: number
}

// A u64 field from a number (< 2^53), with no BigInt made on the way.
function writeU64 (buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n % 0x1_0000_0000, off)
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4)
}

// Fixed-size replies are encoded here and copied into the session's reply
// at once: a request then allocates no buffer for its answer.
const scratch = Buffer.allocUnsafeSlow(256)
function fixedReply (size: number): Buffer {
  return scratch.fill(0, 0, size).subarray(0, size)
}

function writeAttr (buf: Buffer, off: number, a: FuseAttr): void {
  const sec = Math.floor(a.timeMs / 1000)
  const nsec = Math.floor(a.timeMs % 1000) * 1_000_000
  buf.writeBigUInt64LE(a.ino, off)
  writeU64(buf, off + 8, a.size)
  writeU64(buf, off + 16, Math.ceil(a.size / 512))
  writeU64(buf, off + 24, sec)
  writeU64(buf, off + 32, sec)
  writeU64(buf, off + 40, sec)
  buf.writeUInt32LE(nsec, off + 48)
  buf.writeUInt32LE(nsec, off + 52)
  buf.writeUInt32LE(nsec, off + 56)
  buf.writeUInt32LE(a.mode, off + 60)
  buf.writeUInt32LE(a.nlink, off + 64)
  buf.writeUInt32LE(a.uid, off + 68)
  buf.writeUInt32LE(a.gid, off + 72)
  buf.writeUInt32LE(0, off + 76) // rdev
  buf.writeUInt32LE(4096, off + 80) // blksize
  buf.writeUInt32LE(0, off + 84) // flags
}

// Validity in seconds, split as the kernel wants it.
function writeValid (buf: Buffer, secOff: number, nsecOff: number, seconds: number): void {
  writeU64(buf, secOff, Math.floor(seconds))
  buf.writeUInt32LE(Math.round((seconds % 1) * 1e9), nsecOff)
}

export interface Entry {
  readonly nodeid: bigint
  readonly attr: FuseAttr
  readonly entryValid: number
  readonly attrValid: number
}

// struct fuse_entry_out.
export function writeEntry (buf: Buffer, off: number, e: Entry): void {
  buf.writeBigUInt64LE(e.nodeid, off)
  writeU64(buf, off + 8, 0) // generation: node ids are never reused
  writeValid(buf, off + 16, off + 32, e.entryValid)
  writeValid(buf, off + 24, off + 36, e.attrValid)
  writeAttr(buf, off + 40, e.attr)
}

// struct fuse_entry_out as a reply. This and the fixed-size replies below
// are valid until the next one is encoded.
export function entryOut (e: Entry): Buffer {
  const buf = fixedReply(ENTRY_OUT_SIZE)
  writeEntry(buf, 0, e)
  return buf
}

// struct fuse_attr_out.
export function attrOut (attr: FuseAttr, valid: number): Buffer {
  const buf = fixedReply(16 + ATTR_SIZE)
  writeValid(buf, 0, 8, valid)
  writeAttr(buf, 16, attr)
  return buf
}

// struct fuse_open_out.
export function openOut (fh: number, openFlags: number): Buffer {
  const buf = fixedReply(16)
  writeU64(buf, 0, fh)
  buf.writeUInt32LE(openFlags, 8)
  return buf
}

// struct fuse_statfs_out (struct fuse_kstatfs).
export function statfsOut (s: { blocks: number, bfree: number, bavail: number, files: number, ffree: number, bsize: number, namemax: number, frsize: number }): Buffer {
  const buf = fixedReply(80)
  writeU64(buf, 0, s.blocks)
  writeU64(buf, 8, s.bfree)
  writeU64(buf, 16, s.bavail)
  writeU64(buf, 24, s.files)
  writeU64(buf, 32, s.ffree)
  buf.writeUInt32LE(s.bsize, 40)
  buf.writeUInt32LE(s.namemax, 44) // namelen
  buf.writeUInt32LE(s.frsize, 48)
  return buf
}

export interface InitIn {
  readonly major: number
  readonly minor: number
  readonly maxReadahead: number
  readonly flags: number
}

// struct fuse_read_in, which READ, READDIR and READDIRPLUS carry.
export function readReadIn (args: Buffer): { fh: number, offset: number, size: number } {
  return { fh: Number(args.readBigUInt64LE(0)), offset: Number(args.readBigUInt64LE(8)), size: args.readUInt32LE(16) }
}

// FORGET: the lookups the kernel drops of the request's node.
export function readForgetIn (args: Buffer): number {
  return Number(args.readBigUInt64LE(0))
}

// BATCH_FORGET: struct fuse_batch_forget_in, then its fuse_forget_one records.
export function readBatchForgetIn (args: Buffer): Array<{ nodeid: bigint, nlookup: number }> {
  const count = args.readUInt32LE(0)
  const out: Array<{ nodeid: bigint, nlookup: number }> = []
  for (let i = 0; i < count && 8 + i * 16 + 16 <= args.length; i++) {
    out.push({ nodeid: args.readBigUInt64LE(8 + i * 16), nlookup: Number(args.readBigUInt64LE(16 + i * 16)) })
  }
  return out
}

// OPEN and OPENDIR: struct fuse_open_in's flags.
export function readOpenIn (args: Buffer): { flags: number } {
  return { flags: args.readUInt32LE(0) }
}

// RELEASE and RELEASEDIR: the handle of struct fuse_release_in.
export function readReleaseIn (args: Buffer): { fh: number } {
  return { fh: Number(args.readBigUInt64LE(0)) }
}

// RENAME (struct fuse_rename_in) and RENAME2 (fuse_rename2_in, with flags),
// then the two names.
export function readRenameIn (args: Buffer, withFlags: boolean): { newDir: bigint, flags: number, from: string, to: string } {
  const newDir = args.readBigUInt64LE(0)
  const flags = withFlags ? args.readUInt32LE(8) : 0
  const from = readName(args, withFlags ? 16 : 8)
  const to = readName(args, from.next)
  return { newDir, flags, from: from.name, to: to.name }
}

// SETATTR: which attributes struct fuse_setattr_in would change.
export function readSetattrIn (args: Buffer): { valid: number } {
  return { valid: args.readUInt32LE(0) }
}

export function readInit (args: Buffer): InitIn {
  return { major: args.readUInt32LE(0), minor: args.readUInt32LE(4), maxReadahead: args.readUInt32LE(8), flags: args.readUInt32LE(12) }
}

// struct fuse_init_out, at the size of protocol 7.23+.
export function initOut (o: { minor: number, maxReadahead: number, flags: number, maxWrite: number, maxPages: number }): Buffer {
  const buf = Buffer.alloc(64)
  buf.writeUInt32LE(FUSE_KERNEL_VERSION, 0)
  buf.writeUInt32LE(o.minor, 4)
  buf.writeUInt32LE(o.maxReadahead, 8)
  buf.writeUInt32LE(o.flags >>> 0, 12)
  buf.writeUInt16LE(16, 16) // max_background
  buf.writeUInt16LE(12, 18) // congestion_threshold
  buf.writeUInt32LE(o.maxWrite, 20)
  buf.writeUInt32LE(1, 24) // time_gran: nanoseconds
  buf.writeUInt16LE(o.maxPages, 28)
  return buf
}

// struct fuse_out_header at the start of `buf`, answering the request whose
// header starts `request` (its unique id is copied as bytes), for a body of
// `bodyLen` bytes that follows; answers the reply's whole length.
export function writeReplyHeader (buf: Buffer, request: Buffer, error: number, bodyLen: number): number {
  const len = OUT_HEADER_SIZE + bodyLen
  buf.writeUInt32LE(len, 0)
  buf.writeInt32LE(error, 4)
  request.copy(buf, 8, 8, 16)
  return len
}

// A directory entry as readdir(3) will see it; `entry` is given for
// READDIRPLUS, which also hands the kernel the entry's node and attributes.
export interface DirEntry {
  readonly name: string
  readonly ino: bigint
  // DT_* type: S_IFMT bits >> 12.
  readonly type: number
  readonly entry?: Entry
}

function align8 (n: number): number {
  return (n + 7) & ~7
}

// The bytes an entry named `name` takes in a READDIR(PLUS) reply.
export function direntSize (name: string, plus: boolean): number {
  return align8((plus ? ENTRY_OUT_SIZE : 0) + DIRENT_HEADER + Buffer.byteLength(name))
}

// Packs as many entries as fit in `size` bytes (struct fuse_dirent or
// fuse_direntplus). The first is at offset `first` of the listing, and each
// record's offset is that of the next, so a later call resumes there.
// Answers the bytes and how many entries went in.
export function packDirents (entries: readonly DirEntry[], first: number, size: number, plus: boolean): { buf: Buffer, count: number } {
  const recLens: number[] = []
  let total = 0
  for (const e of entries) {
    const recLen = direntSize(e.name, plus)
    if (total + recLen > size) break
    total += recLen
    recLens.push(recLen)
  }
  const count = recLens.length
  const buf = Buffer.alloc(total)
  const head = plus ? ENTRY_OUT_SIZE : 0
  let used = 0
  for (let i = 0; i < count; i++) {
    const e = entries[i] as DirEntry
    const nameLen = Buffer.byteLength(e.name)
    if (plus && e.entry !== undefined) writeEntry(buf, used, e.entry)
    buf.writeBigUInt64LE(e.ino, used + head)
    writeU64(buf, used + head + 8, first + i + 1)
    buf.writeUInt32LE(nameLen, used + head + 16)
    buf.writeUInt32LE(e.type, used + head + 20)
    buf.write(e.name, used + head + DIRENT_HEADER, 'utf8')
    used += recLens[i] as number
  }
  return { buf, count }
}

// FUSE_NOTIFY_INVAL_ENTRY: the kernel forgets the dentry `name` in `parent`.
export function invalEntry (parent: bigint, name: string): Buffer {
  const nameLen = Buffer.byteLength(name)
  const len = OUT_HEADER_SIZE + 16 + nameLen + 1
  const buf = Buffer.alloc(len)
  buf.writeUInt32LE(len, 0)
  buf.writeInt32LE(NOTIFY_INVAL_ENTRY, 4)
  buf.writeBigUInt64LE(0n, 8)
  buf.writeBigUInt64LE(parent, 16)
  buf.writeUInt32LE(nameLen, 24)
  buf.write(name, 32, 'utf8')
  return buf
}

// FUSE_NOTIFY_INVAL_INODE: the kernel drops the node's cached attributes
// and content (a symlink's target, a directory's pages).
export function invalInode (nodeid: bigint): Buffer {
  const buf = Buffer.alloc(OUT_HEADER_SIZE + 24)
  buf.writeUInt32LE(buf.length, 0)
  buf.writeInt32LE(NOTIFY_INVAL_INODE, 4)
  buf.writeBigUInt64LE(0n, 8)
  buf.writeBigUInt64LE(nodeid, 16)
  buf.writeBigInt64LE(0n, 24)
  buf.writeBigInt64LE(0n, 32)
  return buf
}
