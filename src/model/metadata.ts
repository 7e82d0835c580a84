// Metadata for tools: what nsfs knows about each namespace, as plain records
// that `nsfs ls --json` prints and the hidden `.nsfs.json` of every
// directory serves. Derived from a tree alone, so it agrees with what the
// tree shows.
import { NO_CONTAINERS, type ContainerRef, type ContainerSet } from './containers.js'
import { holderPath, nsKey, type Holder, type Namespace, type NsKey, type NsType } from './namespace.js'
import { SELF_ENTRY, type DirNode, type Tree } from './tree-node.js'

// How a namespace was found: a process's own link, one thread's, a process's
// pid_for_children or time_for_children, an open fd,
// a bind mount, only as the owner or parent of another, listns(2).
export type FoundBy = 'task' | 'thread' | 'for-children' | 'fd' | 'mount' | 'parent' | 'listns'

export type HolderMeta =
  | { kind: 'task', pid: number, tid: number, path: string }
  | { kind: 'for-children', pid: number, path: string }
  | { kind: 'fd', pid: number, fd: number, path: string }
  | { kind: 'mount', pid: number, mountPoint: string, local: boolean, path: string }

export interface NsMetadata {
  // Where the tree shows it: a directory for a user namespace, an entry for
  // the others; null when it has no handle and the tree leaves it out.
  path: string | null
  type: NsType
  key: NsKey
  id: string | null
  dev: number
  ino: number
  // `${dev}:${ino}`: what `stat -L` on its entry shows.
  devIno: string
  owner: NsKey | null
  ownerPath: string | null
  parent: NsKey | null
  parentPath: string | null
  ownerUid: number | null
  // Distinct processes holding it (tasks, threads or fds).
  pids: number[]
  holders: HolderMeta[]
  foundBy: FoundBy[]
  // Names `ip netns add` gave it (bind mounts at /run/netns/NAME).
  netns: string[]
  // The running containers whose init is in it.
  containers: ContainerRef[]
}

// The hidden file in every directory that lists its entries' metadata.
export const METADATA_FILE = '.nsfs.json'

export interface DirMetadata {
  // This directory's own user namespace; null in a passage, a directory
  // shown only for what the reader may see below it.
  directory: NsMetadata | null
  // Everything it owns: entries, child directories, and namespaces without
  // a handle (path null).
  entries: NsMetadata[]
}

const NETNS_DIR = /^(?:\/var)?\/run\/netns\/([^/]+)$/

function holderMeta (h: Holder, type: NsType): HolderMeta {
  const path = holderPath(h, type)
  switch (h.kind) {
    case 'task': return { kind: 'task', pid: h.pid, tid: h.tid, path }
    case 'for-children': return { kind: 'for-children', pid: h.pid, path }
    case 'fd': return { kind: 'fd', pid: h.pid, fd: h.fd, path }
    case 'mount': return { kind: 'mount', pid: h.pid, mountPoint: h.mountPoint, local: h.local, path }
  }
}

function foundBy (ns: Namespace): FoundBy[] {
  const out = new Set<FoundBy>()
  for (const h of ns.holders) {
    switch (h.kind) {
      case 'task': out.add(h.pid === h.tid ? 'task' : 'thread'); break
      case 'for-children': out.add('for-children'); break
      case 'fd': out.add('fd'); break
      case 'mount': out.add('mount'); break
    }
  }
  if (ns.listed === true) out.add('listns')
  if (out.size === 0) out.add('parent')
  return [...out]
}

// Per tree: the path of every namespace and the directory of each.
interface Index {
  paths: Map<NsKey, string>
  dirs: Map<NsKey, DirNode>
  dirAt: Map<string, DirNode>
  // Directory path → keys of the namespaces it owns, in tree order.
  members: Map<string, NsKey[]>
}

const indexes = new WeakMap<Tree, Index>()

function indexOf (tree: Tree): Index {
  const cached = indexes.get(tree)
  if (cached !== undefined) return cached
  const paths = new Map<NsKey, string>()
  const dirs = new Map<NsKey, DirNode>()
  const dirAt = new Map<string, DirNode>()
  const members = new Map<string, NsKey[]>()
  const visit = (dir: DirNode, path: string): void => {
    dirs.set(nsKey(dir.ns), dir)
    dirAt.set(path, dir)
    paths.set(nsKey(dir.ns), path)
    const list: NsKey[] = []
    members.set(path, list)
    for (const [name, node] of dir.entries) {
      if (name === SELF_ENTRY && node.ns === dir.ns) continue
      const p = path === '/' ? `/${name}` : `${path}/${name}`
      list.push(nsKey(node.ns))
      if (node.kind === 'dir') visit(node, p)
      else paths.set(nsKey(node.ns), p)
    }
  }
  visit(tree.root, '/')
  // Namespaces the tree leaves out go with their owner's directory, or the
  // root's when that is not shown either (the tree's own rule).
  for (const [key, ns] of tree.discovery.namespaces) {
    if (paths.has(key)) continue
    const ownerPath = ns.owner !== null ? paths.get(ns.owner) : undefined
    const dirPath = ownerPath !== undefined && dirs.has(ns.owner as NsKey) ? ownerPath : '/'
    members.get(dirPath)?.push(key)
  }
  const index = { paths, dirs, dirAt, members }
  indexes.set(tree, index)
  return index
}

// Where `key` shows in the tree; undefined when it is not shown (or gone).
export function pathOf (tree: Tree, key: NsKey): string | undefined {
  return indexOf(tree).paths.get(key)
}

// What one reader may know of each namespace: the holders it may know of
// (as paths it can open), or undefined when the namespace is not for it to
// see at all. Without one, everything as discovered.
export type Selection = (key: NsKey, ns: Namespace) => readonly Holder[] | undefined

const everything: Selection = (_key, ns) => ns.holders

// The record of `ns`, with `holders` in place of its own (what the reader
// may know of them).
export function nsMetadata (tree: Tree, ns: Namespace, holders: readonly Holder[] = ns.holders, containers: ContainerSet = NO_CONTAINERS): NsMetadata {
  const { paths } = indexOf(tree)
  const key = nsKey(ns)
  const netns = new Set<string>()
  for (const h of ns.holders) {
    const m = h.kind === 'mount' ? NETNS_DIR.exec(h.mountPoint) : null
    if (m?.[1] !== undefined) netns.add(m[1])
  }
  const pids = new Set<number>()
  for (const h of holders) if (h.kind !== 'mount') pids.add(h.pid)
  return {
    path: paths.get(key) ?? null,
    type: ns.type,
    key,
    id: ns.id,
    dev: ns.dev,
    ino: ns.ino,
    devIno: `${ns.dev}:${ns.ino}`,
    owner: ns.owner,
    ownerPath: ns.owner === null ? null : paths.get(ns.owner) ?? null,
    parent: ns.parent,
    parentPath: ns.parent === null ? null : paths.get(ns.parent) ?? null,
    ownerUid: ns.ownerUid,
    pids: [...pids],
    holders: holders.map(h => holderMeta(h, ns.type)),
    foundBy: foundBy(ns),
    netns: [...netns],
    containers: [...containers.of(key)],
  }
}

// The metadata of one directory (by its tree path), or undefined when the
// path is not a directory of the tree.
export function dirMetadata (tree: Tree, dirPath: string, select: Selection = everything, containers: ContainerSet = NO_CONTAINERS): DirMetadata | undefined {
  const { dirAt, members } = indexOf(tree)
  const normal = dirPath === '' ? '/' : dirPath
  const keys = members.get(normal)
  const dir = dirAt.get(normal)
  if (keys === undefined || dir === undefined) return undefined
  const own = select(nsKey(dir.ns), dir.ns)
  return {
    directory: own === undefined ? null : nsMetadata(tree, dir.ns, own, containers),
    entries: selected(tree, keys, select, containers),
  }
}

function selected (tree: Tree, keys: Iterable<NsKey>, select: Selection, containers: ContainerSet): NsMetadata[] {
  const out: NsMetadata[] = []
  for (const k of keys) {
    const ns = tree.discovery.namespaces.get(k)
    const holders = ns === undefined ? undefined : select(k, ns)
    if (ns !== undefined && holders !== undefined) out.push(nsMetadata(tree, ns, holders, containers))
  }
  return out
}

// Every namespace of the tree, in tree order, then those it leaves out.
export function allMetadata (tree: Tree, select: Selection = everything, containers: ContainerSet = NO_CONTAINERS): NsMetadata[] {
  const { members } = indexOf(tree)
  return [...selected(tree, [nsKey(tree.root.ns)], select, containers), ...[...members.values()].flatMap(keys => selected(tree, keys, select, containers))]
}
