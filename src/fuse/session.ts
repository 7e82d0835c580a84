// One FUSE connection: the kernel's requests read from /dev/fuse, answered
// by FuseOps, and cache invalidations pushed to the kernel when the tree
// changes. The protocol is spoken directly (libfuse 2 has neither
// READDIRPLUS nor symlink caching, which a warm `ls -lR` needs).
//
// Reads block, so they run on libuv's thread pool: two at a time, so one
// request is read while another is answered. Replies are written at once
// from the JS thread (a reply never blocks). Invalidations may block in the
// kernel on a directory lock that a request we have yet to answer holds, so
// they are written from the pool and never waited for.
import fs from 'node:fs'
import os from 'node:os'
import { NsfsError } from '../errors.js'
import { mountFuseDevice, unmountFuse } from '../kernel/fuse-mount.js'
import { abortMountConnection } from '../kernel/fusectl.js'
import { readMountinfo, type MountEntry } from '../kernel/mountinfo.js'
import type { Logger } from '../log.js'
import type { TreeChange } from '../model/tree-change.js'
import type { FuseOps } from './ops.js'
import {
  FUSE_ASYNC_READ, FUSE_CACHE_SYMLINKS, FUSE_DO_READDIRPLUS, FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, FUSE_MAX_PAGES,
  IN_HEADER_SIZE, initOut, OP, readInHeader, readInit, reply,
} from './protocol.js'

export interface SessionOptions {
  readonly mountpoint: string
  // Log every request and its answer.
  readonly debug: boolean
  readonly log: Logger
}

export interface Session {
  // The mount's entry in the mount table, as it was made.
  readonly mount: MountEntry
  // Resolves when the kernel ended the connection (an unmount from outside).
  readonly ended: Promise<void>
  // Tells the kernel what changed in the tree.
  invalidate: (change: TreeChange) => void
  unmount: () => Promise<void>
}

const READERS = 2
// Requests carry at most a name or two: no writes are accepted (max_write
// is the minimum), and the kernel wants at least 8 KiB.
const BUFFER_SIZE = 64 * 1024
const MAX_WRITE = 4096
const MAX_PAGES = 32

export async function startSession (ops: FuseOps, opts: SessionOptions): Promise<Session> {
  const { log } = opts
  const fd = mountFuseDevice({ mountpoint: opts.mountpoint, fsname: 'nsfs', subtype: 'nsfs' })
  // Its entry in the mount table: its id, and its device, whose minor is
  // its connection under /sys/fs/fuse/connections (the daemon never looks
  // at its own mount).
  const mount = readMountinfo().filter(m => m.mountPoint === opts.mountpoint && m.fstype === 'fuse.nsfs').at(-1)
  if (mount === undefined) {
    try { unmountFuse(opts.mountpoint) } catch {}
    fs.closeSync(fd)
    throw new NsfsError('EIO', 'mounted, yet the mount table does not show it', { path: opts.mountpoint })
  }
  let initialized = false
  let closing = false
  let readers = 0
  let ended: () => void = () => {}
  const endedP = new Promise<void>(resolve => { ended = resolve })
  let ready: (err?: Error) => void = () => {}
  const readyP = new Promise<void>((resolve, reject) => { ready = err => err === undefined ? resolve() : reject(err) })

  const write = (buf: Buffer): void => {
    try {
      fs.writeSync(fd, buf)
    } catch (err) {
      // ENOENT: the request was interrupted and is gone.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('warn', `FUSE reply not delivered: ${(err as Error).message}`)
    }
  }

  const serve = (req: Buffer): void => {
    const h = readInHeader(req)
    const args = req.subarray(IN_HEADER_SIZE, h.len)
    if (h.opcode === OP.INIT) {
      const init = readInit(args)
      if (init.major !== FUSE_KERNEL_VERSION) {
        write(reply(h.unique, -os.constants.errno.EPROTO))
        ready(new NsfsError('EIO', `the kernel speaks FUSE ${init.major}.${init.minor}, nsfs speaks ${FUSE_KERNEL_VERSION}.x`, { path: opts.mountpoint }))
        return
      }
      const want = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_CACHE_SYMLINKS | FUSE_MAX_PAGES
      const flags = init.flags & want
      write(reply(h.unique, 0, initOut({ minor: Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION), maxReadahead: init.maxReadahead, flags, maxWrite: MAX_WRITE, maxPages: MAX_PAGES })))
      if (opts.debug) log('debug', `FUSE INIT: kernel ${init.major}.${init.minor}, flags ${flags.toString(16)}`)
      initialized = true
      ready()
      return
    }
    const answer = ops.handle(h, args)
    if (opts.debug) log('debug', `FUSE op ${h.opcode} node ${h.nodeid} pid ${h.pid}: ${answer.kind === 'error' ? `errno ${answer.errno}` : answer.kind}`)
    switch (answer.kind) {
      case 'ok': write(reply(h.unique, 0, answer.body)); break
      case 'error': write(reply(h.unique, -answer.errno)); break
      case 'none': break
    }
  }

  const read = (buf: Buffer): void => {
    readers++
    fs.read(fd, buf, 0, buf.length, null, (err, n) => {
      readers--
      if (err !== null) {
        const code = err.code
        // ENOENT: a request interrupted before we read it.
        if (!closing && (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN')) return read(buf)
        if (code !== 'ENODEV') log('error', `FUSE device read failed: ${err.message}`)
        if (!initialized) ready(new NsfsError('EIO', 'the FUSE connection ended before it began', { path: opts.mountpoint, cause: err }))
        if (readers === 0) ended()
        return
      }
      try {
        serve(buf.subarray(0, n))
      } catch (e) {
        log('error', `FUSE request not served: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
      }
      read(buf)
    })
  }
  for (let i = 0; i < READERS; i++) read(Buffer.alloc(BUFFER_SIZE))

  try {
    await readyP
  } catch (err) {
    closing = true
    try { unmountFuse(opts.mountpoint) } catch {}
    fs.closeSync(fd)
    throw err
  }

  return {
    mount,
    ended: endedP,
    invalidate: change => {
      if (!initialized || closing) return
      for (const note of ops.invalidations(change)) {
        fs.write(fd, note, err => {
          // ENOENT: the kernel had nothing cached under that name.
          if (err !== null && err.code !== 'ENOENT' && !closing) log('debug', `FUSE invalidation not delivered: ${err.message}`)
        })
      }
    },
    unmount: async () => {
      if (closing) return
      closing = true
      const gone = await Promise.race([endedP.then(() => true), Promise.resolve(false)])
      const how = gone ? 'unmounted' : unmountFuse(opts.mountpoint)
      if (how === 'detached') log('warn', `${opts.mountpoint} is busy: detached; it goes away once nothing uses it`)
      if (how !== 'unmounted') {
        // Detached, here or from outside, while something still uses it.
        // Nobody will serve it: end the connection, so its users hear
        // ENOTCONN and our reads of the device return (a read that never
        // returns would keep the process from exiting).
        try {
          // Undefined, the connection ended already: its last user left.
          abortMountConnection(mount.device)
        } catch (err) {
          log('error', `cannot end the FUSE connection of ${opts.mountpoint}: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
      // Once the kernel lets go of the connection, the readers see ENODEV.
      await Promise.race([endedP, new Promise(resolve => setTimeout(resolve, 1000).unref())])
      fs.closeSync(fd)
    },
  }
}
