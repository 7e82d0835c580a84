// The nsfs ioctls (linux/nsfs.h), called through koffi. This module and
// procfs.ts are the only places that talk to the kernel.
import koffi from 'koffi'
import { NsfsError, type ErrnoCode, isErrnoCode } from '../errors.js'
import os from 'node:os'

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

const libc = koffi.load('libc.so.6')
const ioctlPtr = libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *'])
const ioctlInt = libc.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long'])
const closeRaw = libc.func('int close(int fd)')

const errnoNames = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n, name]))

function fail (syscall: string, path: string): never {
  const errno = koffi.errno()
  const name = errnoNames.get(errno) ?? 'EIO'
  const code: ErrnoCode = isErrnoCode(name) ? name : 'EIO'
  throw new NsfsError(code, `${syscall} failed (${name})`, { path, syscall })
}

// `path` in these helpers only names the fd in error messages.
export function nsGetId (fd: number, path: string): bigint {
  const buf = Buffer.alloc(8)
  if (ioctlPtr(fd, NS_GET_ID, buf) < 0) fail('ioctl(NS_GET_ID)', path)
  return buf.readBigUInt64LE(0)
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

// Closes an fd that an ioctl returned (Node's fs did not open it, so it must
// not close it either).
export function closeFd (fd: number): void {
  closeRaw(fd)
}
