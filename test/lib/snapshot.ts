// Hand-built discoveries for tests that need no kernel.
import { nsKey, type Discovery, type Holder, type Namespace, type NsKey, type NsType } from '../../src/model/namespace.js'

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
