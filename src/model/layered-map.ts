// An immutable map made of a base map and a few changes on top, so the next
// version of a 60,000-entry map (the namespaces of a discovery, the root
// directory's entries) costs what changed, not a copy of the whole. The
// changes are folded into a fresh base once they grow past a share of it,
// which keeps lookups at one level and the copying amortised.
//
// Order: the base's, with changed values in place and removed keys left
// out, then keys new on top in the order they were set.

// Changes are folded in once they exceed this share of the base.
const FOLD_SHARE = 8
const FOLD_MIN = 64

export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  private constructor (
    private readonly base: ReadonlyMap<K, V>,
    private readonly top: ReadonlyMap<K, V>,
    private readonly gone: ReadonlySet<K>,
    readonly size: number,
  ) {}

  // `from` with `set` set and `removed` removed (removals first), as a new
  // map; `from` is left as it was.
  static with<K, V>(from: ReadonlyMap<K, V>, set: Iterable<readonly [K, V]>, removed: Iterable<K>): ReadonlyMap<K, V> {
    const base = from instanceof LayeredMap ? from.base as ReadonlyMap<K, V> : from
    const top = new Map<K, V>(from instanceof LayeredMap ? from.top as ReadonlyMap<K, V> : [])
    const gone = new Set<K>(from instanceof LayeredMap ? from.gone as ReadonlySet<K> : [])
    let size = from.size
    for (const k of removed) {
      if (!(top.has(k) || (!gone.has(k) && base.has(k)))) continue
      size--
      top.delete(k)
      if (base.has(k)) gone.add(k)
    }
    for (const [k, v] of set) {
      if (!(top.has(k) || (!gone.has(k) && base.has(k)))) size++
      gone.delete(k)
      top.set(k, v)
    }
    const layered = new LayeredMap(base, top, gone, size)
    return top.size + gone.size > Math.max(FOLD_MIN, base.size / FOLD_SHARE) ? new Map(layered) : layered
  }

  get (k: K): V | undefined {
    if (this.top.has(k)) return this.top.get(k)
    return this.gone.has(k) ? undefined : this.base.get(k)
  }

  has (k: K): boolean {
    return this.top.has(k) || (!this.gone.has(k) && this.base.has(k))
  }

  * entries (): MapIterator<[K, V]> {
    for (const [k, v] of this.base) {
      if (this.gone.has(k)) continue
      yield [k, this.top.has(k) ? this.top.get(k) as V : v]
    }
    for (const [k, v] of this.top) if (!this.base.has(k)) yield [k, v]
  }

  * keys (): MapIterator<K> {
    for (const [k] of this.entries()) yield k
  }

  * values (): MapIterator<V> {
    for (const [, v] of this.entries()) yield v
  }

  [Symbol.iterator] (): MapIterator<[K, V]> {
    return this.entries()
  }

  forEach (fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this)
  }
}
