// Who is at the other end of a unix socket: SO_PEERCRED, as the kernel
// recorded it at connect(2) (pid translated into our pid namespace).
import type { Socket } from 'node:net'
import { libc, syscallFailed } from './libc.js'

const getsockoptRaw = libc.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)')
const SOL_SOCKET = 1
const SO_PEERCRED = 17

export interface PeerCred {
  readonly pid: number
  readonly uid: number
  readonly gid: number
}

export function peerCred (socket: Socket): PeerCred {
  // Node keeps the descriptor on its libuv handle and offers no getter.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd
  if (fd === undefined || fd < 0) throw new Error('the socket has no file descriptor')
  const buf = Buffer.alloc(12)
  const len = [12]
  if (getsockoptRaw(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0) syscallFailed('getsockopt(SO_PEERCRED)', `fd ${fd}`)
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) }
}
