// Default names: `<type>-<hash>`, the hash an HMAC of the namespace's identity
// and type keyed by a per-boot seed. Stable for the whole boot, different
// under another seed, and telling nothing of inode numbers.
import { createHmac } from 'node:crypto'
import { identityText, type NsIdentity, type NsKey, type NsType } from './namespace.js'

export const HASH_HEX = 12
// Longer forms a name takes when its short hash collides in a directory.
const LONGER = [16, 24, 64]

export function nameHash (seed: Uint8Array, ns: NsIdentity): string {
  return createHmac('sha256', seed).update(`${ns.type}\0${identityText(ns)}`).digest('hex')
}

export function defaultName (type: NsType, hash: string, hexDigits = HASH_HEX): string {
  return `${type}-${hash.slice(0, hexDigits)}`
}

// Compares identities in creation order where the kernel gives ids, so the
// older of two colliding namespaces keeps the short name.
function olderFirst (a: NsIdentity, b: NsIdentity): number {
  if (a.id !== null && b.id !== null) {
    const d = BigInt(a.id) - BigInt(b.id)
    return d < 0n ? -1 : d > 0n ? 1 : 0
  }
  return a.dev - b.dev || a.ino - b.ino
}

// Names one directory's namespaces. Colliding short names (a 2^-48 event)
// are resolved deterministically: the oldest keeps the short form, the
// others take longer prefixes of their own hash.
export function nameDirectory<T extends NsIdentity> (members: readonly T[], hashOf: (ns: T) => string): Map<string, T> {
  const byShort = new Map<string, T[]>()
  for (const ns of members) {
    const name = defaultName(ns.type, hashOf(ns))
    const group = byShort.get(name)
    if (group === undefined) byShort.set(name, [ns])
    else group.push(ns)
  }
  const out = new Map<string, T>()
  for (const [name, group] of byShort) {
    group.sort(olderFirst)
    group.forEach((ns, i) => {
      if (i === 0) { out.set(name, ns); return }
      const hash = hashOf(ns)
      const longer = LONGER.map(n => defaultName(ns.type, hash, n)).find(n => !out.has(n) && !byShort.has(n))
      out.set(longer ?? `${defaultName(ns.type, hash, 64)}-${i}`, ns)
    })
  }
  return out
}

// Memoises hashes per key across snapshots; forgets the dead.
export class HashBook {
  private readonly hashes = new Map<NsKey, string>()
  constructor (private readonly seed: Uint8Array) {}

  hashOf (key: NsKey, ns: NsIdentity): string {
    let h = this.hashes.get(key)
    if (h === undefined) {
      h = nameHash(this.seed, ns)
      this.hashes.set(key, h)
    }
    return h
  }

  drop (key: NsKey): void {
    this.hashes.delete(key)
  }

  retain (live: ReadonlySet<NsKey> | ReadonlyMap<NsKey, unknown>): void {
    for (const k of this.hashes.keys()) if (!live.has(k)) this.hashes.delete(k)
  }
}
