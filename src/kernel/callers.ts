// The threads that make requests, as the access rules see them: read from
// /proc/TID, their namespaces resolved to keys, and kept for a moment so a
// listing of thousands of entries reads them once, not per entry. A thread
// that execs, changes uid or gid, or exits is forgotten at once (the proc
// connector says so); capset(2), setns(2) and unshare(2) make no event, so
// what a thread drops that way is honoured after at most `ttlMs`.
import type { Caller } from '../model/access.js'
import type { NsType } from '../model/namespace.js'
import { readTaskStatus } from './credentials.js'
import type { KeyOf } from './handles.js'

export const CALLER_TTL_MS = 10

interface Known { readonly caller: Caller | undefined, readonly until: number }

export class Callers {
  private readonly known = new Map<number, Known>()

  constructor (
    private readonly keyOf: KeyOf,
    private readonly procRoot = '/proc',
    private readonly ttlMs = CALLER_TTL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  // Thread `tid` (0: a caller outside the daemon's pid namespace, which
  // can be told nothing); undefined when it is gone or unreadable.
  of (tid: number): Caller | undefined {
    if (tid <= 0) return undefined
    const t = this.now()
    const hit = this.known.get(tid)
    if (hit !== undefined && hit.until > t) return hit.caller
    const caller = this.read(tid)
    // Few threads ask at once; those gone are dropped on their way out
    // (invalidate), the rest when the map grows.
    if (this.known.size > 4096) this.known.clear()
    this.known.set(tid, { caller, until: t + this.ttlMs })
    return caller
  }

  invalidate (tid: number): void {
    this.known.delete(tid)
  }

  private read (tid: number): Caller | undefined {
    const s = readTaskStatus(this.procRoot, tid)
    if (s === undefined) return undefined
    const current = new Map<NsType, ReturnType<KeyOf> & string>()
    for (const [type, ino] of s.links) {
      const key = this.keyOf(type, ino)
      if (key !== undefined) current.set(type, key)
    }
    return { ...s, tid, userns: current.get('user'), current }
  }
}
