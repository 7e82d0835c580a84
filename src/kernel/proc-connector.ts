// The proc connector (linux/cn_proc.h): a netlink socket on which the kernel
// reports every fork, exec, exit and uid or gid change as it happens. Root
// in the initial user and pid namespaces may listen (CAP_NET_ADMIN); the
// kernel answers the request to listen with an acknowledgement, and a
// listener in a container gets none. Events that do not fit the socket's
// buffer are lost, which the next read says (ENOBUFS).
import koffi from 'koffi'
import os from 'node:os'
import { NsfsError } from '../errors.js'
import { libc } from './libc.js'

const AF_NETLINK = 16
const SOCK_DGRAM = 2
const SOCK_NONBLOCK = 0o4000
const SOCK_CLOEXEC = 0o2000000
const NETLINK_CONNECTOR = 11
const CN_IDX_PROC = 1
const CN_VAL_PROC = 1
const NLMSG_DONE = 3
const SOL_SOCKET = 1
const SO_RCVBUF = 8
const SO_RCVBUFFORCE = 33
const PROC_CN_MCAST_LISTEN = 1

const NLMSG_HDR = 16
const CN_MSG = 20
// struct proc_event: what, cpu, timestamp_ns (8-aligned), then event_data.
const EVENT_DATA = NLMSG_HDR + CN_MSG + 16

export const PROC_EVENT = {
  NONE: 0x00000000,
  FORK: 0x00000001,
  EXEC: 0x00000002,
  UID: 0x00000004,
  GID: 0x00000040,
  EXIT: 0x80000000,
} as const

export type ProcEvent =
  // The kernel's answer to the request to listen: 0, or an errno.
  | { readonly kind: 'ack', readonly error: number }
  // A new task: a process when its pid is its tgid, else a thread of tgid.
  | { readonly kind: 'fork', readonly pid: number, readonly tgid: number, readonly parentTgid: number }
  | { readonly kind: 'exec', readonly pid: number, readonly tgid: number }
  // Its uid or gid changed (setuid(2) and the like).
  | { readonly kind: 'id', readonly pid: number, readonly tgid: number }
  | { readonly kind: 'exit', readonly pid: number, readonly tgid: number }

const socketRaw = libc.func('int socket(int domain, int type, int protocol)')
const bindRaw = libc.func('int bind(int fd, const void *addr, uint32_t len)')
const sendRaw = libc.func('long send(int fd, const void *buf, size_t len, int flags)')
const recvRaw = libc.func('long recv(int fd, void *buf, size_t len, int flags)')
const setsockoptRaw = libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)')
const closeRaw = libc.func('int close(int fd)')

function failed (call: string): NsfsError {
  const errno = koffi.errno()
  const name = Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`
  return new NsfsError(errno === os.constants.errno.EPERM || errno === os.constants.errno.EACCES ? 'EPERM' : 'EIO', `proc connector: ${call} failed (${name})`, { syscall: call })
}

// The event in one netlink message (as recv gives them, one per datagram);
// undefined for one that is not a proc event we follow.
export function parseProcEvent (buf: Buffer, len: number): ProcEvent | undefined {
  if (len < EVENT_DATA + 8 || buf.readUInt32LE(NLMSG_HDR) !== CN_IDX_PROC) return undefined
  const what = buf.readUInt32LE(NLMSG_HDR + CN_MSG)
  const a = buf.readUInt32LE(EVENT_DATA)
  const b = buf.readUInt32LE(EVENT_DATA + 4)
  switch (what) {
    case PROC_EVENT.NONE: return { kind: 'ack', error: a }
    case PROC_EVENT.FORK: return len < EVENT_DATA + 16 ? undefined : { kind: 'fork', pid: buf.readUInt32LE(EVENT_DATA + 8), tgid: buf.readUInt32LE(EVENT_DATA + 12), parentTgid: b }
    case PROC_EVENT.EXEC: return { kind: 'exec', pid: a, tgid: b }
    case PROC_EVENT.UID:
    case PROC_EVENT.GID: return { kind: 'id', pid: a, tgid: b }
    case PROC_EVENT.EXIT: return { kind: 'exit', pid: a, tgid: b }
    default: return undefined
  }
}

// The message asking to listen: to everything (the op alone, which the
// kernel acknowledges), or (`filtered`, Linux 6.6+'s struct proc_input)
// to the events we follow only — then the kernel filters out even its
// acknowledgement, and a kernel too old to filter ignores the request.
export function listenRequest (seq: number, filtered: boolean): Buffer {
  const buf = Buffer.alloc(NLMSG_HDR + CN_MSG + (filtered ? 8 : 4))
  buf.writeUInt32LE(buf.length, 0)
  buf.writeUInt16LE(NLMSG_DONE, 4)
  buf.writeUInt32LE(seq, 8)
  buf.writeUInt32LE(process.pid, 12)
  buf.writeUInt32LE(CN_IDX_PROC, NLMSG_HDR)
  buf.writeUInt32LE(CN_VAL_PROC, NLMSG_HDR + 4)
  buf.writeUInt32LE(seq, NLMSG_HDR + 8)
  buf.writeUInt16LE(filtered ? 8 : 4, NLMSG_HDR + 16)
  buf.writeUInt32LE(PROC_CN_MCAST_LISTEN, NLMSG_HDR + CN_MSG)
  if (filtered) buf.writeUInt32LE((PROC_EVENT.FORK | PROC_EVENT.EXEC | PROC_EVENT.UID | PROC_EVENT.GID | PROC_EVENT.EXIT) >>> 0, NLMSG_HDR + CN_MSG + 4)
  return buf
}

export type Received =
  | { readonly kind: 'event', readonly event: ProcEvent }
  | { readonly kind: 'other' }
  | { readonly kind: 'empty' }
  // Events were lost: what happened meanwhile must be found out otherwise.
  | { readonly kind: 'overflow' }

export class ProcConnector {
  private readonly buf = Buffer.alloc(256)
  private seq = 0

  private constructor (readonly fd: number) {}

  // A non-blocking socket that has asked to listen; the kernel's answer
  // comes as the first event (an ack), after which filter() narrows what
  // comes. `bufferBytes`: its receive buffer, which is what a burst of
  // events may fill before any is lost.
  static open (bufferBytes: number): ProcConnector {
    const fd = socketRaw(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_CONNECTOR) as number
    if (fd < 0) throw failed('socket')
    try {
      const size = Buffer.alloc(4)
      size.writeInt32LE(bufferBytes, 0)
      // Past the system's rmem_max needs CAP_NET_ADMIN; else what it allows.
      if ((setsockoptRaw(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) as number) !== 0) setsockoptRaw(fd, SOL_SOCKET, SO_RCVBUF, size, 4)
      const addr = Buffer.alloc(12)
      addr.writeUInt16LE(AF_NETLINK, 0)
      addr.writeUInt32LE(CN_IDX_PROC, 8)
      if ((bindRaw(fd, addr, addr.length) as number) !== 0) throw failed('bind')
      const c = new ProcConnector(fd)
      c.request(false)
      return c
    } catch (err) {
      closeRaw(fd)
      throw err
    }
  }

  // Asks for the events we follow only, once the kernel said yes.
  filter (): void {
    this.request(true)
  }

  private request (filtered: boolean): void {
    const req = listenRequest(++this.seq, filtered)
    if (Number(sendRaw(this.fd, req, req.length, 0)) !== req.length) throw failed('send')
  }

  // The next message waiting, without blocking.
  receive (): Received {
    const n = Number(recvRaw(this.fd, this.buf, this.buf.length, 0))
    if (n < 0) {
      const errno = koffi.errno()
      if (errno === os.constants.errno.EAGAIN || errno === os.constants.errno.EINTR) return { kind: 'empty' }
      if (errno === os.constants.errno.ENOBUFS) return { kind: 'overflow' }
      throw failed('recv')
    }
    const event = parseProcEvent(this.buf, n)
    return event === undefined ? { kind: 'other' } : { kind: 'event', event }
  }

  close (): void {
    closeRaw(this.fd)
  }
}
