// Hand-built discoveries for tests that need no kernel.
import { View, type Caller } from '../../src/model/access.js'
import { nsKey, type Discovery, type Holder, type Namespace, type NsKey, type NsType } from '../../src/model/namespace.js'
import type { Tree } from '../../src/model/tree-node.js'
import type { Access, Requester } from '../../src/vfs/vfs.js'

let nextIno = 4026532000

export function task (pid: number, tid = pid, start = 100): Holder {
  return { kind: 'task', pid, tid, start }
}

export function ns (type: NsType, id: number, opts: Partial<Omit<Namespace, 'type' | 'id'>> = {}): Namespace {
  return {
    type,
    id: String(id),
    dev: 4,
    ino: opts.ino ?? nextIno++,
    owner: opts.owner ?? null,
    parent: opts.parent ?? null,
    ownerUid: opts.ownerUid ?? (type === 'user' ? 0 : null),
    holders: opts.holders ?? [task(1)],
  }
}

export function discovery (root: Namespace, others: Namespace[], scannedAt = 1_700_000_000_000): Discovery {
  const namespaces = new Map<NsKey, Namespace>([[nsKey(root), root], ...others.map(n => [nsKey(n), n] as const)])
  return { root: nsKey(root), namespaces, scannedAt, durationMs: 1 }
}

// A thread with the credentials given, in the namespaces given (by type);
// by default root with every capability.
export function caller (current: Namespace[], opts: Partial<Omit<Caller, 'current' | 'userns'>> = {}): Caller {
  const byType = new Map<NsType, NsKey>(current.map(n => [n.type, nsKey(n)]))
  const uid = opts.uid ?? 0
  const gid = opts.gid ?? 0
  return {
    tid: opts.tid ?? 1000,
    tgid: opts.tgid ?? opts.tid ?? 1000,
    uid,
    euid: opts.euid ?? uid,
    suid: opts.suid ?? uid,
    fsuid: opts.fsuid ?? uid,
    gid,
    egid: opts.egid ?? gid,
    sgid: opts.sgid ?? gid,
    fsgid: opts.fsgid ?? gid,
    capEff: opts.capEff ?? (uid === 0 ? (1n << 41n) - 1n : 0n),
    userns: byType.get('user'),
    current: byType,
  }
}

// What the kernel side answers the vfs with, for tests: callers by pid (a
// privileged root thread in `tree`'s root user namespace by default; pid 0
// is nobody), every
// holder as discovered, and targets from `target`.
export function fakeAccess (tree: () => Tree, target: (ns: Namespace) => string | undefined, callers: ReadonlyMap<number, Caller> = new Map()): Access {
  return {
    view: who => {
      const d = tree().discovery
      const root = d.namespaces.get(d.root)
      return new View(d, who.pid === 0 || root === undefined ? undefined : callers.get(who.pid) ?? caller([root]))
    },
    plain: view => view.privileged,
    holders: ns => ns.holders,
    target: (ns, view) => view.caller !== undefined && !view.privileged && view.caller.current.get(ns.type) === nsKey(ns) ? `/proc/thread-self/ns/${ns.type}` : target(ns),
    checkAhead: () => {},
    alive: ns => ns.holders.length === 0 || target(ns) !== undefined,
  }
}

export const ROOT_CALLER: Requester = { uid: 0, gid: 0, pid: 1000 }
