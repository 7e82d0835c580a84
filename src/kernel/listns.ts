// listns(2) (Linux 6.19+, x86_64 syscall 470): the kernel's own list of the
// namespaces visible to the caller, by 64-bit id. Detected at start; when the
// running kernel lacks it (ENOSYS) discovery relies on the /proc scan alone.
// The raw call is injectable so the paging and parsing are tested against
// recorded answers on kernels without it.
import koffi from 'koffi'
import { libc } from './libc.js'
import os from 'node:os'
import { NsfsError } from '../errors.js'
import type { NsType } from '../model/namespace.js'
import { CLONE_FLAGS } from './clone-flags.js'

export const SYS_LISTNS = 470
// sizeof(struct ns_id_req), NS_ID_REQ_SIZE_VER0.
export const NS_ID_REQ_SIZE = 32
const BATCH = 256

// One listns call (flags 0): the request and room for `ids.length / 8` ids.
// Answers the count written, or a negative errno.
export type ListnsCall = (req: Buffer, ids: Buffer) => number

// struct ns_id_req { u32 size; u32 spare; u64 ns_id; u32 ns_type; u32 spare2; u64 user_ns_id; }
export function encodeRequest (afterId: bigint, type: NsType | null, userNsId: bigint): Buffer {
  const req = Buffer.alloc(NS_ID_REQ_SIZE)
  req.writeUInt32LE(NS_ID_REQ_SIZE, 0)
  req.writeBigUInt64LE(afterId, 8)
  req.writeUInt32LE(type === null ? 0 : CLONE_FLAGS[type], 16)
  req.writeBigUInt64LE(userNsId, 24)
  return req
}

export class Listns {
  private constructor (private readonly call: ListnsCall) {}

  // A Listns when the kernel has the call, undefined when it answers ENOSYS.
  static detect (call: ListnsCall = kernelListns()): Listns | undefined {
    const r = call(encodeRequest(0n, null, 0n), Buffer.alloc(8))
    if (r === -os.constants.errno.ENOSYS) return undefined
    if (r < 0) throw new NsfsError('EIO', `listns(2) probe failed with errno ${-r}`, { syscall: 'listns' })
    return new Listns(call)
  }

  // Every id of `type` the kernel lists, ascending, page by page.
  ids (type: NsType): bigint[] {
    const out: bigint[] = []
    const buf = Buffer.alloc(BATCH * 8)
    let after = 0n
    for (;;) {
      const n = this.call(encodeRequest(after, type, 0n), buf)
      if (n < 0) throw new NsfsError('EIO', `listns(2) failed with errno ${-n}`, { syscall: 'listns' })
      for (let i = 0; i < n; i++) out.push(buf.readBigUInt64LE(i * 8))
      const last = out.at(-1)
      if (n < BATCH || last === undefined) return out
      after = last
    }
  }
}

function kernelListns (): ListnsCall {
  const syscall = libc.func('long syscall(long nr, ...)')
  return (req, ids) => {
    const r = Number(syscall(SYS_LISTNS, 'void *', req, 'void *', ids, 'size_t', ids.length / 8, 'uint', 0))
    return r < 0 ? -koffi.errno() : r
  }
}
