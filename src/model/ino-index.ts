// Namespaces by type and inode number, kept in step with the discovery:
// what a task's /proc/PID/ns links (`net:[4026531840]`) name, as keys.
import type { DiscoveryDelta } from './discovery-delta.js'
import { nsKey, NS_TYPES, type Discovery, type NsKey, type NsType } from './namespace.js'

export class InoIndex {
  // One map per type, by number: no key string made per namespace.
  private readonly keys = new Map<NsType, Map<number, NsKey>>(NS_TYPES.map(t => [t, new Map()]))

  keyOf (type: NsType, ino: number): NsKey | undefined {
    return this.keys.get(type)?.get(ino)
  }

  // `delta` applied to `before` (the discovery it was taken against).
  apply (before: Discovery | undefined, delta: DiscoveryDelta): void {
    for (const key of delta.removed) {
      const ns = before?.namespaces.get(key)
      if (ns !== undefined && this.keyOf(ns.type, ns.ino) === key) this.keys.get(ns.type)?.delete(ns.ino)
    }
    for (const ns of delta.upserted) this.keys.get(ns.type)?.set(ns.ino, nsKey(ns))
  }
}
