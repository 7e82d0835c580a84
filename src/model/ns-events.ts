// What `nsfs watch` reports: the namespaces that appeared, died, were
// renamed or changed holders between two trees, found by comparing only the
// keys an update touched.
import { pathOf } from './metadata.js'
import { holderPath, type Namespace, type NsKey } from './namespace.js'
import type { Tree } from './tree-node.js'

export type NsEvent =
  | { readonly kind: 'appeared', readonly key: NsKey, readonly ns: Namespace, readonly path: string | null }
  | { readonly kind: 'died', readonly key: NsKey, readonly ns: Namespace, readonly path: string | null }
  | { readonly kind: 'renamed', readonly key: NsKey, readonly ns: Namespace, readonly path: string | null, readonly from: string | null }
  | { readonly kind: 'holders', readonly key: NsKey, readonly ns: Namespace, readonly path: string | null }

export type NsEventKind = NsEvent['kind']

function sameHolders (a: Namespace, b: Namespace): boolean {
  if (a.holders.length !== b.holders.length) return false
  return a.holders.every((h, i) => {
    const o = b.holders[i]
    return o !== undefined && holderPath(h, a.type) === holderPath(o, b.type)
  })
}

// The events between `before` (undefined: nothing was there) and `after`
// among `keys`.
export function nsEvents (before: Tree | undefined, after: Tree, keys: Iterable<NsKey>): NsEvent[] {
  const out: NsEvent[] = []
  for (const key of keys) {
    const was = before?.discovery.namespaces.get(key)
    const is = after.discovery.namespaces.get(key)
    const path = pathOf(after, key) ?? null
    if (was === undefined && is !== undefined) {
      out.push({ kind: 'appeared', key, ns: is, path })
    } else if (was !== undefined && is === undefined) {
      out.push({ kind: 'died', key, ns: was, path: before === undefined ? null : pathOf(before, key) ?? null })
    } else if (was !== undefined && is !== undefined && before !== undefined) {
      const from = pathOf(before, key) ?? null
      if (from !== null && path !== null && from !== path) out.push({ kind: 'renamed', key, ns: is, path, from })
      if (!sameHolders(was, is)) out.push({ kind: 'holders', key, ns: is, path })
    }
  }
  return out
}
