// The kernel's copy of a directory's listing (FOPEN_CACHE_DIR): when a
// reader may be served from it instead of asking us. Only listings that are
// the same for every caller who gets them are kept (a namespace's directory
// read by a privileged caller, who sees everything); anyone else's open
// asks for no cache, which also makes the kernel drop the copy.
//
// The copy is filled by the READDIRPLUS replies of listings opened with
// FOPEN_CACHE_DIR, as their readers take them, which may be after the tree
// changed. So a copy is handed out again (FOPEN_KEEP_CACHE) only when a
// listing made since the directory last changed was sent whole while no
// older one was still open, and only for as long as the entries that pass
// sent stay valid in the kernel: a reader served from the copy looks no
// entry up, so the copy is only as fast as those entries are fresh.
import { FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE } from './protocol.js'

// A copy is handed out for this long after the pass that filled it began:
// half the time its entries stay valid (CACHE_SECONDS), so that a walk of
// the whole tree begun from the copy still finds them valid.
export const KEEP_MS = 5000

interface Dir {
  // Changes of the directory seen so far.
  gen: number
  // When the listing that last filled the copy, at this gen, was opened.
  filledAt: number | undefined
  // Listings open with FOPEN_CACHE_DIR made at this gen, and before it.
  open: number
  stale: number
  // Whether the kernel may hold a copy (one was asked for since the last
  // invalidation).
  mayHold: boolean
}

// One open listing, as this module knows it.
export interface CacheTicket {
  readonly dir: bigint
  readonly gen: number
  readonly openedAt: number
}

export class DirCaches {
  private readonly dirs = new Map<bigint, Dir>()

  constructor (private readonly now: () => number = () => performance.now()) {}

  // Directory `dir` opened; `shared` when its listing is the same for every
  // caller who may be given the copy. The FOPEN flags to answer with, and
  // the ticket of a listing that fills the copy.
  opened (dir: bigint, shared: boolean): { flags: number, ticket: CacheTicket | undefined } {
    const d = this.dirs.get(dir)
    // The kernel drops its copy on an open without FOPEN_KEEP_CACHE.
    if (!shared || (d?.stale ?? 0) > 0) {
      if (d !== undefined) d.filledAt = undefined
      return { flags: 0, ticket: undefined }
    }
    const at = this.now()
    const state = d ?? { gen: 0, filledAt: undefined, open: 0, stale: 0, mayHold: false }
    this.dirs.set(dir, state)
    state.open++
    state.mayHold = true
    const keep = state.filledAt !== undefined && at - state.filledAt < KEEP_MS
    if (!keep) state.filledAt = undefined
    return { flags: FOPEN_CACHE_DIR | (keep ? FOPEN_KEEP_CACHE : 0), ticket: { dir, gen: state.gen, openedAt: at } }
  }

  // The last entries of the listing went to the kernel, in a pass that
  // began at its start.
  sentWhole (t: CacheTicket): void {
    const d = this.dirs.get(t.dir)
    if (d !== undefined && d.gen === t.gen && d.stale === 0) d.filledAt = t.openedAt
  }

  released (t: CacheTicket): void {
    const d = this.dirs.get(t.dir)
    if (d === undefined) return
    if (d.gen === t.gen) d.open--
    else d.stale--
  }

  // The listing of `dir` changed: no copy is handed out until a pass made
  // since fills it again. True when the kernel may hold one, which must
  // then be invalidated.
  changed (dir: bigint): boolean {
    const d = this.dirs.get(dir)
    if (d === undefined) return false
    d.gen++
    d.filledAt = undefined
    d.stale += d.open
    d.open = 0
    const had = d.mayHold
    d.mayHold = false
    if (d.stale === 0) this.dirs.delete(dir)
    return had
  }

  // Every directory's listing may have changed.
  changedAll (): bigint[] {
    return [...this.dirs.keys()].filter(dir => this.changed(dir))
  }

  // The kernel forgot the directory, and its copy with it.
  forgotten (dir: bigint): void {
    this.dirs.delete(dir)
  }
}
