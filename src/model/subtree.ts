// A mount rooted at a user namespace other than the daemon's own
// (`--userns`): only that namespace and what lies below it, as a delta of
// the whole host's discovery. Owners never change, so whether a namespace
// belongs is decided once, from the owner chain.
import type { DiscoveryDelta } from './discovery-delta.js'
import { nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'

// Whether `ns` is `root` or lies below it (owned by it or by a user
// namespace below it), in the whole discovery `d`.
export function isBelow (ns: Namespace, root: NsKey, d: Discovery): boolean {
  let key: NsKey | null = nsKey(ns)
  for (let depth = 0; key !== null && depth <= 64; depth++) {
    if (key === root) return true
    const cur = d.namespaces.get(key)
    if (cur === undefined) return false
    key = cur.type === 'user' ? cur.parent : cur.owner
  }
  return false
}

// `delta` (already applied to `whole`) as the subtree of `root` sees it.
export function subtreeDelta (delta: DiscoveryDelta, root: NsKey, whole: Discovery): DiscoveryDelta {
  return { ...delta, root, upserted: delta.upserted.filter(ns => isBelow(ns, root, whole)) }
}
