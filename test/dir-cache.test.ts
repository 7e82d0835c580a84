// When the kernel's copy of a directory's listing may be handed out again:
// only a copy filled whole from a listing as it is now, while its entries
// are still fresh, and never one a reader of an older listing could have
// written into.
import t from 'tap'
import { DirCaches, KEEP_MS } from '../src/fuse/dir-cache.js'
import { FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE } from '../src/fuse/protocol.js'

const DIR = 7n

function caches (): { c: DirCaches, at: (ms: number) => void } {
  let now = 1000
  return { c: new DirCaches(() => now), at: ms => { now = ms } }
}

t.test('a copy filled whole is handed out until its entries age', async t => {
  const { c, at } = caches()
  const first = c.opened(DIR, true)
  t.equal(first.flags, FOPEN_CACHE_DIR, 'the first reader fills a copy')
  if (first.ticket === undefined) throw new Error('no ticket')
  t.equal(c.opened(DIR, true).flags, FOPEN_CACHE_DIR, 'not handed out before it is whole')
  c.sentWhole(first.ticket)
  c.released(first.ticket)
  at(1000 + KEEP_MS - 1)
  t.equal(c.opened(DIR, true).flags, FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE, 'whole: handed out')
  at(1000 + KEEP_MS)
  t.equal(c.opened(DIR, true).flags, FOPEN_CACHE_DIR, 'aged: filled again')
})

t.test('a caller whose listing is its own gets no copy, and drops the one there was', async t => {
  const { c } = caches()
  const first = c.opened(DIR, true)
  if (first.ticket === undefined) throw new Error('no ticket')
  c.sentWhole(first.ticket)
  t.same(c.opened(DIR, false), { flags: 0, ticket: undefined })
  t.equal(c.opened(DIR, true).flags, FOPEN_CACHE_DIR, 'the kernel dropped it on that open')
})

t.test('a change: no copy until a listing made since fills it, and none while an older one is open', async t => {
  const { c } = caches()
  t.equal(c.changed(DIR), false, 'nothing asked for: nothing to invalidate')
  const old = c.opened(DIR, true)
  if (old.ticket === undefined) throw new Error('no ticket')
  t.equal(c.changed(DIR), true, 'a copy may be held: invalidate it')
  t.equal(c.changed(DIR), false, 'once')
  c.sentWhole(old.ticket)
  t.same(c.opened(DIR, true), { flags: 0, ticket: undefined }, 'its reader may still write what it had: nobody fills a copy meanwhile')
  c.released(old.ticket)
  const fresh = c.opened(DIR, true)
  t.equal(fresh.flags, FOPEN_CACHE_DIR, 'the old reader is gone: filled anew')
  if (fresh.ticket === undefined) throw new Error('no ticket')
  c.sentWhole(fresh.ticket)
  t.equal(c.opened(DIR, true).flags, FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE)
})

t.test('a change while a filling pass is under way: that pass does not count', async t => {
  const { c } = caches()
  const a = c.opened(DIR, true)
  if (a.ticket === undefined) throw new Error('no ticket')
  c.changedAll()
  c.sentWhole(a.ticket)
  c.released(a.ticket)
  t.equal(c.opened(DIR, true).flags, FOPEN_CACHE_DIR, 'not handed out')
  c.forgotten(DIR)
  t.equal(c.changed(DIR), false, 'forgotten with the node')
})
