// Namespaces by type and inode number, kept in step with the discovery:
// what a task's /proc/PID/ns links (`net:[4026531840]`) name, as keys.
import type { DiscoveryDelta } from './discovery-delta.js'
import { nsKey, type Discovery, type NsKey, type NsType } from './namespace.js'

export class InoIndex {
  private readonly keys = new Map<string, NsKey>()

  keyOf (type: NsType, ino: number): NsKey | undefined {
    return this.keys.get(`${type}:${ino}`)
  }

  // `delta` applied to `before` (the discovery it was taken against).
  apply (before: Discovery | undefined, delta: DiscoveryDelta): void {
    for (const key of delta.removed) {
      const ns = before?.namespaces.get(key)
      if (ns !== undefined && this.keys.get(`${ns.type}:${ns.ino}`) === key) this.keys.delete(`${ns.type}:${ns.ino}`)
    }
    for (const ns of delta.upserted) this.keys.set(`${ns.type}:${ns.ino}`, nsKey(ns))
  }
}
