// The hidden `.nsfs.json` of every directory: its entries' metadata as JSON,
// as its reader may know it. Content is rendered once per open handle, so a
// reader sees one consistent snapshot even while the tree is replaced under
// it; readers who see everything share one rendering per tree.
import { LRUCache } from 'lru-cache'
import type { ContainerSet } from '../model/containers.js'
import { dirMetadata, type Selection } from '../model/metadata.js'
import type { Tree } from '../model/tree-node.js'

// Sizes of the last full rendering per directory: what getattr reports, so
// a stat never renders (at 60k namespaces the root's file runs to
// megabytes). Reads are direct_io, so a size that is off never cuts a read
// short. Bounded, since directories come and go.
const lastSize = new LRUCache<string, number>({ max: 10000 })

// Full renderings per tree and set of containers, so opens while both are
// current share one.
const rendered = new WeakMap<Tree, { containers: ContainerSet, byDir: Map<string, Buffer> }>()

// One entry per line, so `grep` works on it and `jq` reads it whole.
function render (tree: Tree, dirPath: string, containers: ContainerSet, select?: Selection): Buffer | undefined {
  const meta = dirMetadata(tree, dirPath, select, containers)
  if (meta === undefined) return undefined
  const lines = meta.entries.map(e => JSON.stringify(e))
  const text = `{"directory":${JSON.stringify(meta.directory)},\n"entries":[${lines.length === 0 ? '' : `\n${lines.join(',\n')}\n`}]}\n`
  return Buffer.from(text)
}

// The metadata of the directory at `dirPath`: everything (shared per tree),
// or what `select` lets one reader know.
export function renderMetadata (tree: Tree, dirPath: string, containers: ContainerSet, select?: Selection): Buffer | undefined {
  if (select !== undefined) return render(tree, dirPath, containers, select)
  let current = rendered.get(tree)
  if (current?.containers !== containers) {
    current = { containers, byDir: new Map() }
    rendered.set(tree, current)
  }
  const { byDir } = current
  const cached = byDir.get(dirPath)
  if (cached !== undefined) return cached
  const buf = render(tree, dirPath, containers)
  if (buf === undefined) return undefined
  byDir.set(dirPath, buf)
  lastSize.set(dirPath, buf.length)
  return buf
}

export function lastRenderedSize (dirPath: string): number {
  return lastSize.get(dirPath) ?? 0
}
