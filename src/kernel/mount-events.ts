// Mounts attached to and detached from a mount namespace, as they happen:
// fanotify's mount-namespace marks (Linux 6.15+, FAN_REPORT_MNT; root). One
// fanotify group per namespace, so the fd that becomes readable says which.
// A mark does not keep its namespace alive (an open /proc/PID/mountinfo
// would: it holds the namespace, and with it every bind mount in it).
import koffi from 'koffi'
import fs from 'node:fs'
import os from 'node:os'
import { NsfsError } from '../errors.js'
import { libc } from './libc.js'

const FAN_CLOEXEC = 0x1
const FAN_NONBLOCK = 0x2
const FAN_REPORT_MNT = 0x4000
const FAN_MARK_ADD = 0x1
const FAN_MARK_MNTNS = 0x110
const FAN_MNT_ATTACH = 0x01000000n
const FAN_MNT_DETACH = 0x02000000n

const fanotifyInit = libc.func('int fanotify_init(unsigned int flags, unsigned int event_f_flags)')
const fanotifyMark = libc.func('int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)')
const readRaw = libc.func('long read(int fd, void *buf, size_t count)')
const closeRaw = libc.func('int close(int fd)')

function failed (call: string, path: string): NsfsError {
  const errno = koffi.errno()
  const name = Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`
  return new NsfsError('EIO', `${call} failed (${name})`, { path, syscall: call })
}

export class MountWatch {
  private readonly buf = Buffer.alloc(4096)

  private constructor (readonly fd: number) {}

  // Watches the mount namespace that `nsPath` (its /proc/PID/ns/mnt) opens;
  // the namespace is held only for the moment of marking it.
  static open (nsPath: string): MountWatch {
    const fd = fanotifyInit(FAN_REPORT_MNT | FAN_NONBLOCK | FAN_CLOEXEC, fs.constants.O_RDONLY) as number
    if (fd < 0) throw failed('fanotify_init(FAN_REPORT_MNT)', nsPath)
    let ns: number | undefined
    try {
      ns = fs.openSync(nsPath, fs.constants.O_RDONLY)
      if ((fanotifyMark(fd, FAN_MARK_ADD | FAN_MARK_MNTNS, FAN_MNT_ATTACH | FAN_MNT_DETACH, ns, null) as number) !== 0) throw failed('fanotify_mark(FAN_MARK_MNTNS)', nsPath)
      return new MountWatch(fd)
    } catch (err) {
      closeRaw(fd)
      throw err
    } finally {
      if (ns !== undefined) fs.closeSync(ns)
    }
  }

  // Reads every event waiting; answers how many there were (what they say
  // matters less than that the namespace's mounts changed).
  drain (): number {
    let events = 0
    for (;;) {
      const n = Number(readRaw(this.fd, this.buf, this.buf.length))
      if (n <= 0) return events
      // struct fanotify_event_metadata: event_len first.
      for (let at = 0; at + 24 <= n; events++) {
        const len = this.buf.readUInt32LE(at)
        if (len < 24) break
        at += len
      }
    }
  }

  close (): void {
    closeRaw(this.fd)
  }
}
