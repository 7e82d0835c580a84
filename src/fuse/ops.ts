// The complete FUSE operation table: each op calls the vfs and maps its
// answer or error to what the kernel expects. Anything unexpected is logged
// with its context and answered as EIO.
import type { FuseOps } from 'fuse-native'
import { ERRNO, errnoCodeOf, NsfsError, type ErrnoCode } from '../errors.js'
import type { Logger } from '../log.js'
import type { Vfs } from '../vfs/vfs.js'

export function makeOps (vfs: Vfs, log: Logger): FuseOps {
  const fail = (op: string, path: string, err: unknown): number => {
    const code = errnoCodeOf(err)
    if (!(err instanceof NsfsError)) log('error', `${op} ${path}: unexpected ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
    return -ERRNO[code]
  }
  // Answers a synchronous vfs call through a fuse-native callback.
  const answer = <T>(op: string, path: string, cb: (err: number, v?: T) => void, fn: () => T): void => {
    let value: T
    try {
      value = fn()
    } catch (err) {
      cb(fail(op, path, err))
      return
    }
    cb(0, value)
  }
  const refuse = (code: ErrnoCode) => (...args: unknown[]): void => {
    const cb = args[args.length - 1] as (err: number) => void
    cb(-ERRNO[code])
  }

  return {
    getattr: (path, cb) => answer('getattr', path, cb, () => vfs.getattr(path)),
    // Names with their file types, so the kernel can fill d_type.
    readdir: (path, cb) => {
      let names: string[]
      let modes: number[]
      try {
        names = vfs.readdir(path)
        modes = vfs.readdirModes(path)
      } catch (err) {
        cb(fail('readdir', path, err))
        return
      }
      cb(0, names, modes.map(mode => ({ mode })))
    },
    readlink: (path, cb) => answer('readlink', path, cb, () => vfs.readlink(path)),
    statfs: (path, cb) => answer('statfs', path, cb, () => vfs.statfs()),
    // Only the metadata files are opened and read.
    open: (path: string, flags: number, cb: (err: number, fh?: number) => void) => answer('open', path, cb, () => vfs.open(path, flags)),
    read: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
      let n: number
      try {
        n = vfs.read(path, fh, len, pos).copy(buf)
      } catch (err) {
        n = fail('read', path, err)
      }
      cb(n)
    },
    release: (path: string, fh: number, cb: (err: number) => void) => answer('release', path, cb, () => vfs.release(fh)),
    // Answered only once the new name is durable (vfs.rename saves it).
    rename: (src: string, dest: string, cb: (err: number) => void) => answer('rename', src, cb, () => vfs.rename(src, dest)),
    // Extended attributes: none exist, none may be set. ENOSYS makes the
    // kernel stop asking (it answers EOPNOTSUPP itself from then on), which
    // saves `ls -l` one round trip per entry.
    getxattr: refuse('ENOSYS'),
    listxattr: refuse('ENOSYS'),
    setxattr: refuse('EROFS'),
    removexattr: refuse('EROFS'),
    // Nothing can be created, removed, written or changed, only renamed.
    create: refuse('EROFS'),
    mknod: refuse('EROFS'),
    mkdir: refuse('EROFS'),
    symlink: refuse('EROFS'),
    link: refuse('EROFS'),
    unlink: refuse('EROFS'),
    rmdir: refuse('EROFS'),
    write: refuse('EROFS'),
    truncate: refuse('EROFS'),
    ftruncate: refuse('EROFS'),
    chmod: refuse('EPERM'),
    chown: refuse('EPERM'),
    utimens: refuse('EPERM'),
  }
}
