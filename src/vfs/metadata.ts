// The hidden `.nsfs.json` of every directory: its entries' metadata as JSON.
// Content is rendered once per open handle, so a reader sees one consistent
// snapshot even while the tree is replaced under it.
import path from 'node:path'
import { LRUCache } from 'lru-cache'
import { dirMetadata, METADATA_FILE } from '../model/metadata.js'
import type { Tree } from '../model/tree-node.js'

// Sizes of the last rendering per directory: what getattr reports, so a
// stat never renders (at 60k namespaces the root's file runs to megabytes).
// Reads are direct_io, so a size that is off never cuts a read short.
// Bounded, since directories come and go.
const lastSize = new LRUCache<string, number>({ max: 10000 })

// The directory whose metadata file `filePath` is, or undefined when
// `filePath` does not name a metadata file.
export function metadataDirOf (filePath: string): string | undefined {
  return path.posix.basename(filePath) === METADATA_FILE ? path.posix.dirname(filePath) : undefined
}

// Renderings per tree, so opens while one tree is current share one.
const rendered = new WeakMap<Tree, Map<string, Buffer>>()

// One entry per line, so `grep` works on it and `jq` reads it whole.
export function renderMetadata (tree: Tree, dirPath: string): Buffer | undefined {
  let byDir = rendered.get(tree)
  if (byDir === undefined) {
    byDir = new Map()
    rendered.set(tree, byDir)
  }
  const cached = byDir.get(dirPath)
  if (cached !== undefined) return cached
  const meta = dirMetadata(tree, dirPath)
  if (meta === undefined) return undefined
  const lines = meta.entries.map(e => JSON.stringify(e))
  const text = `{"directory":${JSON.stringify(meta.directory)},\n"entries":[${lines.length === 0 ? '' : `\n${lines.join(',\n')}\n`}]}\n`
  const buf = Buffer.from(text)
  byDir.set(dirPath, buf)
  lastSize.set(dirPath, buf.length)
  return buf
}

export function lastRenderedSize (dirPath: string): number {
  return lastSize.get(dirPath) ?? 0
}
