// What one update changed in the tree, per directory, for whoever caches
// what the tree shows (the kernel's dentry and attribute caches under FUSE).
import type { NsKey } from './namespace.js'

// One directory, named by its user namespace's key (stable across renames).
// `changed`: same name, but another namespace behind it or another first
// holder (what readlink answers and getattr sizes). A subdirectory whose own
// entries changed has its own DirChange and is not listed here for that.
export interface DirChange {
  readonly dir: NsKey
  readonly removed: readonly string[]
  readonly added: readonly string[]
  readonly changed: readonly string[]
}

export type TreeChange =
  // Built from nothing (the first scan, or a patch that could not apply):
  // anything may have changed.
  | { readonly kind: 'whole' }
  // Only these directories changed; a directory whose user namespace died
  // is not among them (its parent lists it as removed).
  | { readonly kind: 'dirs', readonly dirs: readonly DirChange[] }
