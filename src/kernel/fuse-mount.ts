// Mounting a FUSE filesystem ourselves, as root: open /dev/fuse, mount(2)
// with that fd, umount2(2) at the end; and the device's reads and writes.
// No libfuse and no fusermount.
import fs from 'node:fs'
import koffi from 'koffi'
import { NsfsError } from '../errors.js'
import { libc, syscallFailed } from './libc.js'

const mountRaw = libc.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)')
const umount2Raw = libc.func('int umount2(const char *target, int flags)')
const readRaw = libc.func('long read(int fd, void *buf, size_t count)')
const writeRaw = libc.func('long write(int fd, const void *buf, size_t count)')

const MS_NOSUID = 2
const MS_NODEV = 4
const MNT_DETACH = 2

export interface FuseMountSpec {
  readonly mountpoint: string
  // What findmnt shows: source `fsname`, type `fuse.${subtype}`.
  readonly fsname: string
  readonly subtype: string
}

// Opens the device and mounts it at the mountpoint; answers the device fd,
// on which the kernel's INIT request is already waiting.
export function mountFuseDevice (spec: FuseMountSpec, device = '/dev/fuse'): number {
  let fd: number
  try {
    // Non-blocking: requests are read when the device says it has one
    // (kernel/fd-poll.ts), on the thread that answers them.
    fd = fs.openSync(device, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
  } catch (err) {
    throw new NsfsError('ENODEV', 'cannot open the FUSE device', { path: device, cause: err })
  }
  // The options of the fuse filesystem type itself (fs/fuse/inode.c).
  // allow_other: everyone may look (the kernel still checks each entry's
  // mode, default_permissions); the /proc paths behind the handles decide
  // who may open what.
  const data = `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions`
  if (mountRaw(spec.fsname, spec.mountpoint, `fuse.${spec.subtype}`, MS_NOSUID | MS_NODEV, data) !== 0) {
    try {
      syscallFailed('mount', spec.mountpoint)
    } finally {
      fs.closeSync(fd)
    }
  }
  return fd
}

// Detaches a mount lazily (umount -l): what a stale mount, whose daemon is
// gone, needs.
export function detachMount (mountpoint: string): boolean {
  return umount2Raw(mountpoint, MNT_DETACH) === 0
}

// Unmounts; a busy mount is detached instead (it goes away once its users
// leave). Answers which, or that nothing was mounted there any more (a
// `umount -l` from outside).
export function unmountFuse (mountpoint: string): 'unmounted' | 'detached' | 'not-mounted' {
  if (umount2Raw(mountpoint, 0) === 0) return 'unmounted'
  try {
    syscallFailed('umount2', mountpoint)
  } catch (err) {
    if (err instanceof NsfsError && err.code === 'EINVAL') return 'not-mounted'
    if (!(err instanceof NsfsError) || err.code !== 'EBUSY') throw err
  }
  if (umount2Raw(mountpoint, MNT_DETACH) !== 0) syscallFailed('umount2(MNT_DETACH)', mountpoint)
  return 'detached'
}

// One request read from the device into `buf`: its length, or the errno
// negated (EAGAIN: none waiting; ENOENT: interrupted before we read it;
// ENODEV: the connection ended). Raw, so an empty device costs no
// exception, and a number, so a request costs no allocation.
export function readDevice (fd: number, buf: Buffer): number {
  const n = Number(readRaw(fd, buf, buf.length))
  return n >= 0 ? n : -koffi.errno()
}

// Writes one reply of `len` bytes from `buf`: 0, or the errno (ENOENT: the
// request was interrupted and is gone).
export function writeDevice (fd: number, buf: Buffer, len: number): number {
  return Number(writeRaw(fd, buf, len)) === len ? 0 : koffi.errno()
}
