// What changed between two discoveries: the namespaces added or changed
// and the keys of those gone. The discovery worker posts these instead of
// whole snapshots, so what crosses the thread boundary and what the daemon
// redoes is proportional to the change, not to the host.
import { LayeredMap } from './layered-map.js'
import { nsKey, type Discovery, type Namespace, type NsKey } from './namespace.js'

export interface DiscoveryDelta {
  readonly root: NsKey
  // New or changed, whole.
  readonly upserted: readonly Namespace[]
  readonly removed: readonly NsKey[]
  readonly scannedAt: number
  readonly durationMs: number
}

// `base` with `delta` applied, as a new snapshot (`base` is left as it was:
// a tree built from it may still be read), sharing what did not change.
// `base` undefined: from nothing.
export function applyDelta (base: Discovery | undefined, delta: DiscoveryDelta): Discovery {
  const namespaces = LayeredMap.with(base?.namespaces ?? new Map(), delta.upserted.map(ns => [nsKey(ns), ns] as const), delta.removed)
  return { root: delta.root, namespaces, scannedAt: delta.scannedAt, durationMs: delta.durationMs }
}

// The keys a delta touches, added, changed or removed.
export function changedKeys (delta: DiscoveryDelta): Set<NsKey> {
  const keys = new Set<NsKey>(delta.removed)
  for (const ns of delta.upserted) keys.add(nsKey(ns))
  return keys
}
