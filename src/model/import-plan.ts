// `nsfs names import`, checked against the tree: the names of an export put
// back on the namespaces that took over its roles after a restore. All or
// nothing: any name that cannot go where the export had it refuses the
// whole import, and the overlay is left as it was.
import { NsfsError } from '../errors.js'
import { CONTAINERS_DIR } from './containers.js'
import { METADATA_FILE } from './metadata.js'
import { nsKey, type NsKey } from './namespace.js'
import { badNameReason, isReservedName } from './name-rules.js'
import type { NameEntry, Overlay } from './overlay.js'
import { SELF_ENTRY, type DirNode, type Node, type Tree } from './tree-node.js'

// What the importer resolved: the top directory's namespace and the name it
// takes, then every namespace of the export by its path below the top.
export interface ImportRequest {
  readonly top: { readonly key: NsKey, readonly name: string }
  readonly entries: ReadonlyArray<{ readonly key: NsKey, readonly path: string }>
}

export interface ImportPlan {
  readonly overlay: Overlay
  // Where the top and each entry show once imported, from the mount root.
  readonly paths: readonly string[]
}

interface Place {
  readonly path: string
  readonly node: Node
  readonly parent: DirNode
}

function join (dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

function parentOf (path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

function placesOf (tree: Tree): Map<NsKey, Place> {
  const out = new Map<NsKey, Place>()
  const visit = (dir: DirNode, path: string): void => {
    for (const [name, node] of dir.entries) {
      if (name === SELF_ENTRY && node.ns === dir.ns) continue
      const p = join(path, name)
      out.set(nsKey(node.ns), { path: p, node, parent: dir })
      if (node.kind === 'dir') visit(node, p)
    }
  }
  visit(tree.root, '/')
  return out
}

// The overlay with `req` applied to `tree`, or an NsfsError naming the first
// thing in the way. `isAdmin` says whether the caller may name in the
// directory of a user namespace, as for a rename.
export function planImport (tree: Tree, overlay: Overlay, req: ImportRequest, isAdmin: (dir: NsKey) => boolean): ImportPlan {
  const places = placesOf(tree)
  const notYet = (what: string): NsfsError => new NsfsError('ENOENT', `${what} is not in the tree (yet)`)
  const top = places.get(req.top.key)
  if (top === undefined) throw notYet(`the restored user namespace (${req.top.key})`)
  if (top.node.kind !== 'dir') throw new NsfsError('ENOTDIR', 'the restored top is no user namespace', { path: top.path })

  // Rel path → key, to know which directory each entry belongs in.
  const byRel = new Map<string, NsKey>([['', req.top.key]])
  const seen = new Map<NsKey, string>([[req.top.key, '.']])
  for (const e of req.entries) {
    const twice = seen.get(e.key)
    if (twice !== undefined) throw new NsfsError('EINVAL', `${twice} and ${e.path} are one namespace after the restore`)
    seen.set(e.key, e.path)
    byRel.set(e.path, e.key)
  }

  const topPath = join(parentOf(top.path), req.top.name)
  interface Move { readonly key: NsKey, readonly place: Place, readonly name: string, readonly to: string }
  const moves: Move[] = [{ key: req.top.key, place: top, name: req.top.name, to: topPath }]
  for (const e of req.entries) {
    const place = places.get(e.key)
    if (place === undefined) throw notYet(`${e.path} (${e.key})`)
    const i = e.path.lastIndexOf('/')
    const relDir = i < 0 ? '' : e.path.slice(0, i)
    const want = byRel.get(relDir)
    if (want === undefined || nsKey(place.parent.ns) !== want) {
      throw new NsfsError('EINVAL', `${e.path}: the restored namespace is not in the directory the export had it in (it shows at ${place.path})`)
    }
    moves.push({ key: e.key, place, name: e.path.slice(i + 1), to: `${topPath}/${e.path}` })
  }

  // Per directory: free what moves, then place each name.
  const byDir = new Map<DirNode, Move[]>()
  for (const m of moves) {
    const list = byDir.get(m.place.parent)
    if (list === undefined) byDir.set(m.place.parent, [m])
    else list.push(m)
  }
  for (const [dir, list] of byDir) {
    const where = list[0]?.place.path ?? '/'
    if (!isAdmin(nsKey(dir.ns))) {
      throw new NsfsError('EACCES', 'naming needs CAP_SYS_ADMIN in the user namespace that owns the directory', { path: parentOf(where) })
    }
    const moving = new Set(list.map(m => m.key))
    const taken = new Set<string>()
    for (const [name, node] of dir.entries) {
      if (moving.has(nsKey(node.ns)) && !(name === SELF_ENTRY && node.ns === dir.ns)) continue
      taken.add(name)
      // A member's default stays its own, renamed or not.
      taken.add(node.defaultName)
    }
    for (const m of list) {
      const why = badNameReason(m.name) ??
        (m.name === SELF_ENTRY ? `'${SELF_ENTRY}' is reserved for the directory's own handle` : undefined) ??
        (m.name === METADATA_FILE ? 'the directory\'s metadata file has that name' : undefined) ??
        (m.to === `/${CONTAINERS_DIR}` ? 'the directory of containers has that name' : undefined)
      if (why !== undefined) throw new NsfsError('EINVAL', why, { path: m.to })
      if (taken.has(m.name)) throw new NsfsError('EEXIST', `${m.to} exists (restored twice? import --as NAME gives the top another name)`)
      taken.add(m.name)
    }
  }

  const next = new Map<NsKey, NameEntry>(overlay)
  for (const m of moves) {
    if (m.name === m.place.node.defaultName) {
      next.delete(m.key)
      continue
    }
    const entry: NameEntry = { key: m.key, type: m.place.node.ns.type, name: m.name, dir: nsKey(m.place.parent.ns), path: m.to }
    next.set(m.key, isReservedName(m.name) ? { ...entry, imported: true } : entry)
  }
  return { overlay: next, paths: moves.map(m => m.to) }
}
