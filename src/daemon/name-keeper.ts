// Keeps the rename overlay, the tree served and the state file in step: a
// rename is on disk before it is served and answered; a scan forgets the
// names of namespaces that died. Everything runs on the one JS thread, so
// renames from many processes are applied one after another, none lost.
import type { Logger } from '../log.js'
import type { Discovery, NsKey } from '../model/namespace.js'
import { applyRename, retainLive, withPaths, type Overlay, type RenamePlan } from '../model/overlay.js'
import type { TreePatch } from '../model/tree-patch.js'
import { withEntryRenamed, type TreeBuilder } from '../model/tree.js'
import type { Tree } from '../model/tree-node.js'
import type { OverlayStore } from '../store/overlay-store.js'

export class NameKeeper {
  private built = false

  constructor (
    private readonly store: OverlayStore,
    private names: Overlay,
    private readonly builder: TreeBuilder,
    private readonly log: Logger,
  ) {}

  // How many namespaces carry a chosen name.
  get size (): number {
    return this.names.size
  }

  // The tree of a new scan, after forgetting the names of the dead: built
  // whole, or `from.tree` patched where the namespaces in `from.changed`
  // differ. Paths only move with renames, so they are taken from the tree
  // only at the first scan (the state file may come from a daemon with
  // another root).
  update (d: Discovery, from?: { readonly tree: Tree, readonly changed: ReadonlySet<NsKey> }): TreePatch {
    const live = retainLive(this.names, d.namespaces)
    const patch: TreePatch = from === undefined
      ? { tree: this.builder.build(d, live), change: { kind: 'whole' } }
      : this.builder.patch(from.tree, d, from.changed, live)
    const next = this.built ? live : withPaths(live, patch.tree)
    this.built = true
    if (next !== this.names) {
      const forgotten = this.names.size - live.size
      try {
        this.store.save(next)
        if (forgotten > 0) this.log('debug', `forgot the names of ${forgotten} namespaces that died`)
      } catch (err) {
        // Served anyway; the next successful save writes it.
        this.log('error', err instanceof Error ? err.message : String(err))
      }
      this.names = next
    }
    return patch
  }

  // The tree with `plan` applied to `current`, once it is durable. Throws
  // (and changes nothing) when it cannot be saved.
  rename (current: Tree, plan: RenamePlan): Tree {
    if (plan.kind === 'none') return current
    const next = retainLive(applyRename(this.names, plan), current.discovery.namespaces)
    try {
      this.store.save(next)
    } catch (err) {
      this.log('error', `rename not recorded: ${err instanceof Error ? err.message : String(err)}`)
      throw err
    }
    this.names = next
    return withEntryRenamed(current, plan.from, plan.name)
  }

  // The names now, for planning an import against.
  get overlay (): Overlay {
    return this.names
  }

  // `current` rebuilt under `next` (the overlay an import planned), once it
  // is durable. Throws (and changes nothing) when it cannot be saved.
  import (current: Tree, next: Overlay): Tree {
    const tree = this.builder.build(current.discovery, next)
    const names = withPaths(next, tree)
    try {
      this.store.save(names)
    } catch (err) {
      this.log('error', `import not recorded: ${err instanceof Error ? err.message : String(err)}`)
      throw err
    }
    this.names = names
    return tree
  }
}
