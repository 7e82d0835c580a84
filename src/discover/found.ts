// What a discovery source answers: the holders it saw per namespace, keyed
// by type:inode as readlink or mountinfo name it (nothing opened yet).
import { inoKey, type Holder, type InoKey, type NsType } from '../model/namespace.js'

export interface Sighted<H extends Holder = Holder> { readonly type: NsType, readonly ino: number, readonly holders: H[] }

export type Found<H extends Holder = Holder> = Map<InoKey, Sighted<H>>

// One holder of one namespace, as a per-process reader answers it.
export interface Sighting { readonly type: NsType, readonly ino: number, readonly holder: Holder }

// What tells one holder from another: the task and its start time (a pid
// reused is another holder), and the fd or mount.
export function holderTag (h: Holder): string {
  switch (h.kind) {
    case 'task': return `task:${h.tid}:${h.start}`
    case 'for-children': return `for-children:${h.pid}:${h.start}`
    case 'fd': return `fd:${h.pid}:${h.fd}:${h.start}`
    case 'mount': return `mount:${h.tid}:${h.start}:${h.mountId}`
  }
}

export function addFound (found: Found, type: NsType, ino: number, holder: Holder): void {
  const k = inoKey(type, ino)
  const entry = found.get(k)
  if (entry === undefined) found.set(k, { type, ino, holders: [holder] })
  else entry.holders.push(holder)
}

// All sources in one map; holders keep the order of the sources given.
export function mergeFound (sources: readonly Found[]): Found {
  const out: Found = new Map()
  for (const src of sources) {
    for (const [k, { type, ino, holders }] of src) {
      const entry = out.get(k)
      if (entry === undefined) out.set(k, { type, ino, holders: [...holders] })
      else entry.holders.push(...holders)
    }
  }
  return out
}

// The sightings that `keep` accepts, as a Found.
export function foundOf (sightings: Iterable<Sighting>, keep: (s: Sighting) => boolean = () => true): Found {
  const found: Found = new Map()
  for (const s of sightings) if (keep(s)) addFound(found, s.type, s.ino, s.holder)
  return found
}
