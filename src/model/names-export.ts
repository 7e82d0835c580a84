// The names of one directory of the tree, written so that they still mean
// something after a checkpoint/restore: every namespace by its path below
// the directory and by the role it plays for the container's processes, in
// the container's own pid numbers ("the net namespace of its pid 1", "the
// owner of that"). Ids and inode numbers die with the namespaces; roles are
// what a restore brings back. Pure: the CLI reads the tree and the
// processes' NSpid, the kernel module resolves locators on the new host.
import type { NsMetadata } from './metadata.js'
import { NS_TYPES, isNsType, type NsKey, type NsType } from './namespace.js'
import { badNameReason } from './name-rules.js'

export const EXPORT_FORMAT = 'nsfs-names-export'
export const EXPORT_VERSION = 1

// The links of /proc/PID/ns a process locator may name.
export type NsLink = NsType | 'pid_for_children' | 'time_for_children'

export function linkType (link: NsLink): NsType {
  return link === 'pid_for_children' ? 'pid' : link === 'time_for_children' ? 'time' : link
}

// How to find a namespace among the container's processes. `pid` is a pid
// in the container's pid namespace (the one its init is pid 1 in).
export type Locator =
  | { readonly kind: 'process', readonly pid: number, readonly link: NsLink }
  | { readonly kind: 'fd', readonly pid: number, readonly fd: number }
  // A bind mount of an nsfs file, at `path` in the process's mount namespace.
  | { readonly kind: 'mount', readonly pid: number, readonly path: string }
  // The user namespace that owns the namespace `of` locates.
  | { readonly kind: 'owner', readonly of: Locator }
  // The parent (user and pid namespaces) of the one `of` locates.
  | { readonly kind: 'parent', readonly of: Locator }

export function describeLocator (l: Locator): string {
  switch (l.kind) {
    case 'process': return `${l.link} of pid ${l.pid}`
    case 'fd': return `fd ${l.fd} of pid ${l.pid}`
    case 'mount': return `the mount at ${l.path} of pid ${l.pid}`
    case 'owner': return `the owner of ${describeLocator(l.of)}`
    case 'parent': return `the parent of ${describeLocator(l.of)}`
  }
}

export interface ExportedNs {
  // Below the exported directory: 'net-…', 'user-…/uts-…', 'web'.
  readonly path: string
  readonly type: NsType
  // Null: no process of the container reaches it; it cannot be found again.
  readonly locator: Locator | null
}

// A namespace the container uses but does not own: inherited from the host,
// not restored with it.
export interface ExternalNs {
  readonly type: NsType
  // Where the tree showed it, from the mount root.
  readonly path: string | null
  readonly locator: Locator
}

export interface NamesExport {
  readonly format: typeof EXPORT_FORMAT
  readonly version: typeof EXPORT_VERSION
  readonly exportedAt: string
  // The exported directory: its name and the user namespace it is.
  readonly top: { readonly name: string, readonly locator: Locator }
  readonly namespaces: readonly ExportedNs[]
  readonly external: readonly ExternalNs[]
}

// One process of the container, as the kernel module read it.
export interface ContainerProcess {
  readonly hostPid: number
  // Its pid in the container's pid namespace.
  readonly cpid: number
  // The inode of each of its /proc/PID/ns links.
  readonly links: ReadonlyMap<NsLink, number>
  // Its open namespace fds.
  readonly fds: ReadonlyArray<{ readonly fd: number, readonly type: NsType, readonly ino: number }>
}

export interface ExportInput {
  // The directory exported, from the mount root ('/ctr').
  readonly dir: string
  // Every namespace the tree shows (the whole mount's metadata).
  readonly records: readonly NsMetadata[]
  // Every process of the container, its init (cpid 1) included.
  readonly processes: readonly ContainerProcess[]
  readonly now?: Date
}

export interface ExportResult {
  readonly doc: NamesExport
  // Paths (below dir) of the namespaces with no locator.
  readonly unlocated: readonly string[]
}

function isUnder (p: string | null, dir: string): p is string {
  return p !== null && p.startsWith(`${dir}/`)
}

// The namespaces under `dir` (those without a handle too), or an Error
// when `dir` is no directory of the tree.
function inside (records: readonly NsMetadata[], dir: string): { top: NsMetadata, inside: NsMetadata[] } {
  const top = records.find(r => r.path === dir)
  if (top === undefined) throw new Error(`${dir}: no such directory in the tree`)
  if (top.type !== 'user') throw new Error(`${dir}: not a directory (a user namespace's directory is exported)`)
  return { top, inside: records.filter(r => isUnder(r.path, dir) || (r.path === null && (r.ownerPath === dir || isUnder(r.ownerPath, dir)))) }
}

// Ranks direct locators: a process's own link before pid_for_children, then
// fds, then mounts; the lowest pid first.
function rank (l: Locator): number {
  switch (l.kind) {
    case 'process': return l.link.endsWith('_for_children') ? 1 : 0
    case 'fd': return 2
    case 'mount': return 3
    case 'owner': return 4
    case 'parent': return 5
  }
}

function better (a: Locator, b: Locator | undefined): boolean {
  if (b === undefined) return true
  const ra = rank(a)
  const rb = rank(b)
  if (ra !== rb) return ra < rb
  return 'pid' in a && 'pid' in b && a.pid < b.pid
}

// The document for `input.dir`; throws an Error saying why there is none.
export function buildExport (input: ExportInput): ExportResult {
  const { dir, records } = input
  const { top, inside: under } = inside(records, dir)
  const byKey = new Map(records.map(r => [r.key, r]))
  const byIno = new Map(records.map(r => [`${r.type}:${r.ino}`, r]))
  const insideKeys = new Set([top.key, ...under.map(r => r.key)])
  const init = input.processes.find(p => p.cpid === 1)
  if (init === undefined) throw new Error('the container has no pid 1')

  const located = new Map<NsKey, Locator>()
  const offer = (type: NsType, ino: number, l: Locator): void => {
    const r = byIno.get(`${type}:${ino}`)
    if (r !== undefined && better(l, located.get(r.key))) located.set(r.key, l)
  }
  const cpidOf = new Map(input.processes.map(p => [p.hostPid, p.cpid]))
  for (const p of input.processes) {
    for (const [link, ino] of p.links) offer(linkType(link), ino, { kind: 'process', pid: p.cpid, link })
    for (const f of p.fds) offer(f.type, f.ino, { kind: 'fd', pid: p.cpid, fd: f.fd })
  }
  for (const r of records) {
    for (const h of r.holders) {
      const cpid = h.kind === 'mount' ? cpidOf.get(h.pid) : undefined
      if (cpid !== undefined && h.kind === 'mount') offer(r.type, r.ino, { kind: 'mount', pid: cpid, path: h.mountPoint })
    }
  }
  // What no process holds may still be the owner or parent of what one does.
  for (let grew = true; grew;) {
    grew = false
    for (const [key, l] of [...located]) {
      const r = byKey.get(key)
      if (r === undefined) continue
      for (const [rel, kind] of [[r.owner, 'owner'], [r.parent, 'parent']] as const) {
        if (rel === null || located.has(rel) || !insideKeys.has(rel)) continue
        located.set(rel, { kind, of: l })
        grew = true
      }
    }
  }

  const topLocator = located.get(top.key)
  if (topLocator === undefined) throw new Error(`${dir}: no process of the container (init: pid ${init.hostPid}) reaches this user namespace`)
  const rel = (p: string): string => p.slice(dir.length + 1)
  const namespaces: ExportedNs[] = under
    .filter((r): r is NsMetadata & { path: string } => r.path !== null)
    .sort((a, b) => a.path.localeCompare(b.path))
    .map(r => ({ path: rel(r.path), type: r.type, locator: located.get(r.key) ?? null }))
  const external: ExternalNs[] = []
  for (const [link, ino] of init.links) {
    const r = byIno.get(`${linkType(link)}:${ino}`)
    if (r === undefined || insideKeys.has(r.key) || link.endsWith('_for_children')) continue
    external.push({ type: r.type, path: r.path, locator: { kind: 'process', pid: 1, link } })
  }
  external.sort((a, b) => NS_TYPES.indexOf(a.type) - NS_TYPES.indexOf(b.type))
  const doc: NamesExport = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: (input.now ?? new Date()).toISOString(),
    top: { name: dir.slice(dir.lastIndexOf('/') + 1), locator: topLocator },
    namespaces,
    external,
  }
  return { doc, unlocated: namespaces.filter(n => n.locator === null).map(n => n.path) }
}

// The host pids of the processes that may be the container's init: those
// the tree shows in the outermost pid namespace below `dir`. Throws when
// there is not exactly one such namespace.
export function initCandidates (records: readonly NsMetadata[], dir: string): number[] {
  const pidNs = inside(records, dir).inside.filter(r => r.type === 'pid')
  const keys = new Set(pidNs.map(r => r.key))
  const outer = pidNs.filter(r => r.parent === null || !keys.has(r.parent))
  const only = outer[0]
  if (outer.length !== 1 || only === undefined) {
    throw new Error(`${outer.length === 0 ? 'no pid namespace' : `${outer.length} pid namespaces`} at the top of ${dir}: say which process is the container's init with --pid`)
  }
  return only.holders.filter(h => h.kind === 'task' && h.pid === h.tid).map(h => h.pid)
}

export function formatExport (doc: NamesExport): string {
  return JSON.stringify(doc, null, 2) + '\n'
}

type Json = Record<string, unknown>

function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isPid (v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0
}

const LINKS: readonly string[] = [...NS_TYPES, 'pid_for_children', 'time_for_children']

function parseLocator (v: unknown, where: string, depth = 0): Locator {
  const bad = (why: string): never => { throw new Error(`${where}: ${why}`) }
  if (!isObject(v)) return bad('not an object')
  if (depth > 16) return bad('nested too deep')
  switch (v.kind) {
    case 'process':
      if (!isPid(v.pid)) return bad('bad pid')
      if (typeof v.link !== 'string' || !LINKS.includes(v.link)) return bad(`bad link ${JSON.stringify(v.link)}`)
      return { kind: 'process', pid: v.pid, link: v.link as NsLink }
    case 'fd':
      if (!isPid(v.pid)) return bad('bad pid')
      if (!Number.isSafeInteger(v.fd) || (v.fd as number) < 0) return bad('bad fd')
      return { kind: 'fd', pid: v.pid, fd: v.fd as number }
    case 'mount':
      if (!isPid(v.pid)) return bad('bad pid')
      if (typeof v.path !== 'string' || !v.path.startsWith('/') || v.path.includes('\0')) return bad('bad path')
      return { kind: 'mount', pid: v.pid, path: v.path }
    case 'owner':
    case 'parent':
      return { kind: v.kind, of: parseLocator(v.of, `${where}.of`, depth + 1) }
    default:
      return bad(`unknown kind ${JSON.stringify(v.kind)}`)
  }
}

function parseType (v: unknown, where: string): NsType {
  if (typeof v !== 'string' || !isNsType(v)) throw new Error(`${where}: bad type ${JSON.stringify(v)}`)
  return v
}

// Parses and validates an export; throws an Error in one line saying what
// is wrong (a truncated file, another program's, a newer version).
export function parseExport (text: string): NamesExport {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`not JSON (truncated?): ${err instanceof Error ? err.message : String(err)}`)
  }
  if (!isObject(doc) || doc.format !== EXPORT_FORMAT) throw new Error(`not an ${EXPORT_FORMAT} document`)
  if (typeof doc.version !== 'number' || !Number.isInteger(doc.version)) throw new Error('no version')
  if (doc.version > EXPORT_VERSION) throw new Error(`version ${doc.version} is newer than this nsfs reads (${EXPORT_VERSION})`)
  if (doc.version !== EXPORT_VERSION) throw new Error(`unknown version ${doc.version}`)
  if (typeof doc.exportedAt !== 'string') throw new Error('no exportedAt')
  const top = doc.top
  if (!isObject(top)) throw new Error('no top')
  if (typeof top.name !== 'string' || badNameReason(top.name) !== undefined) throw new Error(`top: bad name ${JSON.stringify(top.name)}`)
  const topLocator = parseLocator(top.locator, 'top.locator')
  if (!Array.isArray(doc.namespaces)) throw new Error('no namespaces array')
  const paths = new Set<string>()
  const namespaces = doc.namespaces.map((n: unknown, i): ExportedNs => {
    const where = `namespaces[${i}]`
    if (!isObject(n)) throw new Error(`${where}: not an object`)
    if (typeof n.path !== 'string') throw new Error(`${where}: no path`)
    const parts = n.path.split('/')
    const why = parts.map(p => badNameReason(p)).find(w => w !== undefined)
    if (why !== undefined) throw new Error(`${where}: bad path ${JSON.stringify(n.path)}: ${why}`)
    if (paths.has(n.path)) throw new Error(`${where}: ${n.path} is listed twice`)
    paths.add(n.path)
    const type = parseType(n.type, where)
    const locator = n.locator === null ? null : parseLocator(n.locator, `${where}.locator`)
    return { path: n.path, type, locator }
  })
  for (const n of namespaces) {
    const i = n.path.lastIndexOf('/')
    if (i < 0) continue
    const parent = namespaces.find(m => m.path === n.path.slice(0, i))
    if (parent?.type !== 'user') throw new Error(`${n.path}: its directory ${n.path.slice(0, i)} is not a user namespace of the document`)
  }
  if (!Array.isArray(doc.external)) throw new Error('no external array')
  const external = doc.external.map((e: unknown, i): ExternalNs => {
    const where = `external[${i}]`
    if (!isObject(e)) throw new Error(`${where}: not an object`)
    if (e.path !== null && typeof e.path !== 'string') throw new Error(`${where}: bad path`)
    return { type: parseType(e.type, where), path: e.path, locator: parseLocator(e.locator, `${where}.locator`) }
  })
  return { format: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: doc.exportedAt, top: { name: top.name, locator: topLocator }, namespaces, external }
}
