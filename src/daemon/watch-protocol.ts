// What passes over the daemon's socket. `nsfs watch` sends one JSON line
// naming the directory it watches; the daemon answers one line (ok or an
// error), then one JSON line per event that caller may see. `nsfs names
// import` sends the names it resolved and gets one answer line.
import type { ErrnoCode } from '../errors.js'
import type { ImportRequest } from '../model/import-plan.js'
import type { NsEventKind } from '../model/ns-events.js'
import type { NsKey, NsType } from '../model/namespace.js'

export type SocketRequest =
  // A directory of the tree ('/user-…'): events at and under it.
  | { readonly kind: 'watch', readonly path: string }
  | { readonly kind: 'import', readonly request: ImportRequest }

export type WatchAnswer = { readonly ok: true } | { readonly ok: false, readonly error: string }

// Where the imported names show, or why nothing was imported.
export type ImportAnswer =
  | { readonly ok: true, readonly paths: readonly string[] }
  | { readonly ok: false, readonly error: string, readonly code: ErrnoCode }

export interface WatchRecord {
  readonly event: NsEventKind
  readonly time: number
  readonly type: NsType
  readonly key: NsKey
  // Where it shows (null: it has no handle and the tree leaves it out).
  readonly path: string | null
  // For `renamed`: where it showed before.
  readonly from?: string | null
  // The holders the caller may know of, as paths it can open.
  readonly holders: readonly string[]
}

// One line as `ip monitor` would print it.
export function formatRecord (r: WatchRecord): string {
  const where = r.path ?? `(${r.key}, no handle)`
  switch (r.event) {
    case 'appeared': return `appeared ${r.type} ${where}${r.holders.length > 0 ? ` ${r.holders.join(' ')}` : ''}`
    case 'died': return `died ${r.type} ${where}`
    case 'renamed': return `renamed ${r.type} ${r.from ?? '-'} -> ${where}`
    case 'holders': return `holders ${r.type} ${where} ${r.holders.length > 0 ? r.holders.join(' ') : '-'}`
  }
}

// Whether tree path `p` is `dir` or below it.
export function isUnder (p: string | null, dir: string): boolean {
  if (dir === '/') return true
  return p !== null && (p === dir || p.startsWith(`${dir}/`))
}
