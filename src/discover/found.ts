// What a discovery source answers: the holders it saw per namespace, keyed
// `${type}:${ino}` as readlink or mountinfo name it (nothing opened yet).
import type { Holder, NsType } from '../model/namespace.js'

export type Found = Map<string, { type: NsType, ino: number, holders: Holder[] }>

// One holder of one namespace, as a per-process reader answers it.
export interface Sighting { readonly type: NsType, readonly ino: number, readonly holder: Holder }

export function addFound (found: Found, type: NsType, ino: number, holder: Holder): void {
  const k = `${type}:${ino}`
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
