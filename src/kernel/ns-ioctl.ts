// The nsfs ioctls and file handles (linux/nsfs.h), called through koffi.
import os from 'node:os'
import koffi from 'koffi'
import { libc, syscallFailed as fail } from './libc.js'

const FILEID_NSFS = 0xf1
const NSIO = 0xb7
const IOC_READ = 2
function io (nr: number): number { return (NSIO << 8) | nr }
function ior (nr: number, size: number): number {
  return ((IOC_READ << 30) | (size << 16) | (NSIO << 8) | nr) >>> 0
}

export const NS_GET_USERNS = io(0x1)
export const NS_GET_PARENT = io(0x2)
export const NS_GET_NSTYPE = io(0x3)
export const NS_GET_OWNER_UID = io(0x4)
export const NS_GET_ID = ior(13, 8)

const ioctlPtr = libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *'])
const ioctlInt = libc.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long'])
const closeRaw = libc.func('int close(int fd)')
const openRaw = libc.func('int open(const char *path, int flags)')
const O_RDONLY_CLOEXEC = 0o2000000
const idBuf = Buffer.alloc(8)

// name_to_handle_at(2) of a /proc/PID/ns link, followed to its namespace.
const nameToHandleAt = libc.func('int name_to_handle_at(int dirfd, const char *path, void *handle, int *mount_id, int flags)')
const AT_FDCWD = -100
const AT_SYMLINK_FOLLOW = 0x400
const { EOPNOTSUPP, ENOSYS } = os.constants.errno
// struct file_handle with room for any handle; nsfs's is 16 bytes.
const FH_BYTES = 64
const fhBuf = Buffer.alloc(8 + FH_BYTES)
const mountIdBuf = Buffer.alloc(4)
// Whether this kernel gives namespaces file handles: unknown until a
// handle is made or refused.
let nsHandles: boolean | undefined

// `path` in these helpers only names the fd in error messages.
export function nsGetId (fd: number, path: string): bigint {
  const buf = Buffer.alloc(8)
  if (ioctlPtr(fd, NS_GET_ID, buf) < 0) fail('ioctl(NS_GET_ID)', path)
  return buf.readBigUInt64LE(0)
}

// The NS_GET_ID of the namespace `path` leads to right now (a /proc/PID/ns
// link, or an nsfs fd through /proc/PID/fd): the namespace itself, exactly.
// Its nsfs file handle (Linux 6.18+) carries the id and costs one syscall
// and no fd; elsewhere an open, an ioctl and a close. Undefined when it
// leads nowhere (the task is gone or not ours to inspect, the path is no
// namespace); nothing is thrown, so a holder gone costs no exception.
export function readNsId (path: string): bigint | undefined {
  if (nsHandles !== false) {
    fhBuf.writeUInt32LE(FH_BYTES, 0)
    if (nameToHandleAt(AT_FDCWD, path, fhBuf, mountIdBuf, AT_SYMLINK_FOLLOW) === 0) {
      // Another type: the path led to something that is no namespace.
      if (fhBuf.readInt32LE(4) !== FILEID_NSFS) return undefined
      nsHandles = true
      return fhBuf.readBigUInt64LE(8)
    }
    const errno = koffi.errno()
    // Handles work and the path leads nowhere; or they are not known yet
    // and this failure says nothing of them (a gone task).
    if (nsHandles === true || (errno !== EOPNOTSUPP && errno !== ENOSYS)) return undefined
    nsHandles = false
  }
  const fd = openRaw(path, O_RDONLY_CLOEXEC) as number
  if (fd < 0) return undefined
  const ok = ioctlPtr(fd, NS_GET_ID, idBuf) >= 0
  closeRaw(fd)
  return ok ? idBuf.readBigUInt64LE(0) : undefined
}

// A new fd for the owning user namespace; the caller closes it.
export function nsGetUserns (fd: number, path: string): number {
  const r = ioctlInt(fd, NS_GET_USERNS, 0) as number
  if (r < 0) fail('ioctl(NS_GET_USERNS)', path)
  return r
}

// A new fd for the parent namespace (user and pid only); the caller closes it.
export function nsGetParent (fd: number, path: string): number {
  const r = ioctlInt(fd, NS_GET_PARENT, 0) as number
  if (r < 0) fail('ioctl(NS_GET_PARENT)', path)
  return r
}

export function nsGetNstype (fd: number, path: string): number {
  const r = ioctlInt(fd, NS_GET_NSTYPE, 0) as number
  if (r < 0) fail('ioctl(NS_GET_NSTYPE)', path)
  return r
}

export function nsGetOwnerUid (fd: number, path: string): number {
  const buf = Buffer.alloc(4)
  if (ioctlPtr(fd, NS_GET_OWNER_UID, buf) < 0) fail('ioctl(NS_GET_OWNER_UID)', path)
  return buf.readUInt32LE(0)
}

// Opens a namespace by its 64-bit id through an nsfs file handle
// (open_by_handle_at on FD_NSFS_ROOT, Linux 6.18+): how namespaces that only
// listns(2) knows are reached. The caller closes the fd.
const FD_NSFS_ROOT = -10003
const openByHandleAt = libc.func('int open_by_handle_at(int mount_fd, void *handle, int flags)')

export function openNsById (id: bigint, cloneFlag: number): number {
  // struct file_handle { u32 handle_bytes; i32 handle_type; struct nsfs_file_handle { u64 ns_id; u32 ns_type; u32 ns_inum; } }
  const fh = Buffer.alloc(8 + 16)
  fh.writeUInt32LE(16, 0)
  fh.writeInt32LE(FILEID_NSFS, 4)
  fh.writeBigUInt64LE(id, 8)
  fh.writeUInt32LE(cloneFlag, 16)
  const fd = openByHandleAt(FD_NSFS_ROOT, fh, 0) as number
  if (fd < 0) fail('open_by_handle_at', `nsid:${id}`)
  return fd
}

// Closes an fd that an ioctl returned (Node's fs did not open it, so it must
// not close it either).
export function closeFd (fd: number): void {
  closeRaw(fd)
}
