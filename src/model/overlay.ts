// The rename overlay: the names chosen with rename(2), by namespace. Only
// renamed namespaces are in it; it is planned and changed here without I/O
// (src/store keeps it on disk).
import { NsfsError } from '../errors.js'
import { CONTAINERS_DIR } from './containers.js'
import { METADATA_FILE } from './metadata.js'
import { nsKey, type Namespace, type NsKey, type NsType } from './namespace.js'
import { checkName, isReservedName } from './name-rules.js'
import { lookup, SELF_ENTRY, type DirNode, type Tree } from './tree-node.js'

export interface NameEntry {
  readonly key: NsKey
  readonly type: NsType
  readonly name: string
  // The user namespace whose directory shows it.
  readonly dir: NsKey
  // Where it shows, from the mount root ('/web', '/user-…/db'); kept current
  // as directories above it are renamed.
  readonly path: string
  // Given by `nsfs names import`, the one way to a name of the reserved
  // <type>-<hex> shape: a restored namespace taking back its old default.
  readonly imported?: boolean
}

export type Overlay = ReadonlyMap<NsKey, NameEntry>

// What one rename(2) asks of the overlay.
export type RenamePlan =
  // Same name as now: nothing to do.
  | { readonly kind: 'none' }
  // Record a chosen name for the namespace shown at `from`.
  | { readonly kind: 'set', readonly ns: Namespace, readonly from: string, readonly dir: NsKey, readonly name: string }
  // Back to its default name `name`: forget the chosen one.
  | { readonly kind: 'clear', readonly ns: Namespace, readonly from: string, readonly name: string }

function split (path: string): [string, string] {
  const i = path.lastIndexOf('/')
  return [i <= 0 ? '/' : path.slice(0, i), path.slice(i + 1)]
}

// Checks a rename(2) of `src` to `dest` (paths from the mount root) against
// the tree, and says what it changes; throws NsfsError with the errno the
// caller must see.
export function planRename (tree: Tree, src: string, dest: string): RenamePlan {
  if (split(src)[1] === METADATA_FILE) throw new NsfsError('EPERM', 'the metadata file cannot be renamed', { path: src })
  const node = lookup(tree, src)
  if (node === undefined) throw new NsfsError('ENOENT', 'no such namespace entry', { path: src })
  if (node === tree.root) throw new NsfsError('EPERM', 'the root cannot be renamed', { path: src })
  const [srcDir, srcName] = split(src)
  const [destDir, destName] = split(dest)
  if (srcDir !== destDir) throw new NsfsError('EXDEV', `a namespace stays in the directory of its owning user namespace (cannot move to ${destDir})`, { path: src })
  if (srcName === SELF_ENTRY) throw new NsfsError('EPERM', `'${SELF_ENTRY}' is the directory's own handle; rename the directory instead`, { path: src })
  if (destName === SELF_ENTRY) throw new NsfsError('EPERM', `'${SELF_ENTRY}' is reserved for the directory's own handle`, { path: dest })
  // The metadata file is in every directory, outside the tree.
  if (destName === METADATA_FILE) throw new NsfsError('EEXIST', 'the directory\'s metadata file has that name', { path: dest })
  if (dest === `/${CONTAINERS_DIR}`) throw new NsfsError('EEXIST', 'the directory of containers has that name', { path: dest })
  checkName(destName, dest)
  if (destName === srcName) return { kind: 'none' }
  const dir = lookup(tree, srcDir) as DirNode
  if (dir.entries.has(destName)) throw new NsfsError('EEXIST', 'an entry of that name exists', { path: dest })
  if (destName === node.defaultName) return { kind: 'clear', ns: node.ns, from: src, name: destName }
  if (isReservedName(destName)) throw new NsfsError('EINVAL', `names of the form <type>-<hex> are reserved for default names (this one's is ${node.defaultName})`, { path: dest })
  return { kind: 'set', ns: node.ns, from: src, dir: nsKey(dir.ns), name: destName }
}

// The overlay after `plan`, with the paths of entries below a renamed
// directory moved along.
export function applyRename (overlay: Overlay, plan: RenamePlan): Overlay {
  if (plan.kind === 'none') return overlay
  const key = nsKey(plan.ns)
  const to = `${split(plan.from)[0].replace(/\/$/, '')}/${plan.name}`
  const next = new Map<NsKey, NameEntry>()
  for (const [k, e] of overlay) {
    next.set(k, e.path.startsWith(`${plan.from}/`) ? { ...e, path: to + e.path.slice(plan.from.length) } : e)
  }
  switch (plan.kind) {
    case 'set':
      next.set(key, { key, type: plan.ns.type, name: plan.name, dir: plan.dir, path: to })
      break
    case 'clear':
      next.delete(key)
      break
  }
  return next
}

// Forgets the namespaces that are not alive any more; the same overlay when
// none died.
export function retainLive (overlay: Overlay, live: ReadonlyMap<NsKey, unknown>): Overlay {
  let next: Map<NsKey, NameEntry> | undefined
  for (const key of overlay.keys()) {
    if (live.has(key)) continue
    next ??= new Map(overlay)
    next.delete(key)
  }
  return next ?? overlay
}

// Every entry with the path it shows at in `tree`; the same overlay when no
// path changed. An entry not in the tree keeps its last path.
export function withPaths (overlay: Overlay, tree: Tree): Overlay {
  if (overlay.size === 0) return overlay
  const found = new Map<NsKey, string>()
  const visit = (dir: DirNode, path: string): void => {
    for (const [name, node] of dir.entries) {
      if (name === SELF_ENTRY) continue
      const p = `${path}/${name}`
      const key = nsKey(node.ns)
      if (overlay.has(key)) found.set(key, p)
      if (node.kind === 'dir') visit(node, p)
    }
  }
  visit(tree.root, '')
  let next: Map<NsKey, NameEntry> | undefined
  for (const [key, entry] of overlay) {
    const path = found.get(key)
    if (path === undefined || path === entry.path) continue
    next ??= new Map(overlay)
    next.set(key, { ...entry, path })
  }
  return next ?? overlay
}
