// One FUSE connection: the kernel's requests read from /dev/fuse, answered
// by FuseOps, and cache invalidations pushed to the kernel when the tree
// changes. The protocol is spoken directly (libfuse 2 has neither
// READDIRPLUS nor symlink caching).
//
// The request path is one thread and no copies it can avoid: the device is
// non-blocking and watched on the main loop (kernel/fd-poll.ts); when it is
// ready, every waiting request is read into one buffer, answered, and its
// reply written from one other buffer, synchronously, before the loop moves
// on. A reply never blocks. Invalidations may block in the kernel on a
// directory lock that a request we have yet to answer holds, so they are
// written from the thread pool and never waited for.
import fs from 'node:fs'
import os from 'node:os'
import { NsfsError } from '../errors.js'
import { FdWatch, UV_READABLE } from '../kernel/fd-poll.js'
import { mountFuseDevice, readDevice, unmountFuse, writeDevice } from '../kernel/fuse-mount.js'
import { abortMountConnection } from '../kernel/fusectl.js'
import { readMountinfo, type MountEntry } from '../kernel/mountinfo.js'
import type { Logger } from '../log.js'
import type { FuseOps } from './ops.js'
import {
  FUSE_ASYNC_READ, FUSE_DO_READDIRPLUS, FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, FUSE_MAX_PAGES,
  IN_HEADER_SIZE, initOut, OP, opName, OUT_HEADER_SIZE, readInHeader, readInit, writeReplyHeader,
} from './protocol.js'

export interface SessionOptions {
  readonly mountpoint: string
  // Log every request and its answer.
  readonly debug: boolean
  readonly log: Logger
  // INIT flags asked for beyond the ones every session wants.
  readonly flags?: number
}

export interface Session {
  // The mount's entry in the mount table, as it was made.
  readonly mount: MountEntry
  // Resolves when the kernel ended the connection (an unmount from outside).
  readonly ended: Promise<void>
  // Hands the kernel notifications (FUSE_NOTIFY_*), without waiting.
  notify: (notes: readonly Buffer[]) => void
  unmount: () => Promise<void>
}

// Requests carry at most a name or two: no writes are accepted (max_write
// is the minimum), and the kernel wants at least 8 KiB.
const BUFFER_SIZE = 64 * 1024
const MAX_WRITE = 4096
export const MAX_PAGES = 32
// A READDIR reply is at most MAX_PAGES pages.
const OUT_SIZE = OUT_HEADER_SIZE + MAX_PAGES * 4096
// Requests answered per wakeup before the loop gets a turn (timers, the
// discovery's work); the device stays ready, so the rest follow at once.
const BATCH = 256
// A caller walking the tree (ls -l, find) sends its next request a few µs
// after our reply; sleeping in epoll in between costs a wakeup per request,
// tens of µs on a VM. So in a burst (a drain that began within BURST_MS of
// the last one's end) the device is polled for SPIN_MS more once it is
// empty, before the loop sleeps. A request that comes alone never spins.
const BURST_MS = 1
const SPIN_MS = 0.05
const { EAGAIN, EINTR, ENOENT } = os.constants.errno

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
  let ended: () => void = () => {}
  const endedP = new Promise<void>(resolve => { ended = resolve })
  let ready: (err?: Error) => void = () => {}
  const readyP = new Promise<void>((resolve, reject) => { ready = err => err === undefined ? resolve() : reject(err) })
  const inBuf = Buffer.alloc(BUFFER_SIZE)
  const outBuf = Buffer.alloc(OUT_SIZE)

  // Answers the request in inBuf.
  const send = (error: number, body?: Buffer): void => {
    const len = writeReplyHeader(outBuf, inBuf, error, body?.length ?? 0)
    body?.copy(outBuf, OUT_HEADER_SIZE)
    const errno = writeDevice(fd, outBuf, len)
    // ENOENT: the request was interrupted and is gone.
    if (errno !== 0 && errno !== os.constants.errno.ENOENT) log('warn', `FUSE reply not delivered: errno ${errno}`)
  }

  const init = (args: Buffer): void => {
    const kernel = readInit(args)
    if (kernel.major !== FUSE_KERNEL_VERSION) {
      send(-os.constants.errno.EPROTO)
      ready(new NsfsError('EIO', `the kernel speaks FUSE ${kernel.major}.${kernel.minor}, nsfs speaks ${FUSE_KERNEL_VERSION}.x`, { path: opts.mountpoint }))
      return
    }
    const want = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES | (opts.flags ?? 0)
    const flags = kernel.flags & want
    send(0, initOut({ minor: Math.min(kernel.minor, FUSE_KERNEL_MINOR_VERSION), maxReadahead: kernel.maxReadahead, flags, maxWrite: MAX_WRITE, maxPages: MAX_PAGES }))
    if (opts.debug) log('debug', `FUSE INIT: kernel ${kernel.major}.${kernel.minor}, flags ${flags.toString(16)}`)
    initialized = true
    ready()
  }

  const serve = (n: number): void => {
    const h = readInHeader(inBuf)
    const args = inBuf.subarray(IN_HEADER_SIZE, Math.min(h.len, n))
    if (h.opcode === OP.INIT) return init(args)
    const answer = ops.handle(h, args)
    if (opts.debug) log('debug', `FUSE ${opName(h.opcode)} node ${h.nodeid} pid ${h.pid} uid ${h.uid}: ${answer.kind === 'error' ? `errno ${answer.errno}` : answer.kind}`)
    switch (answer.kind) {
      case 'ok': send(0, answer.body); break
      case 'error': send(-answer.errno); break
      case 'none': break
    }
  }

  let connected = true
  const finish = (errno: number): void => {
    connected = false
    watch.stop()
    if (errno !== os.constants.errno.ENODEV) log('error', `FUSE device read failed: errno ${errno}`)
    if (!initialized) ready(new NsfsError('EIO', 'the FUSE connection ended before it began', { path: opts.mountpoint }))
    ended()
  }

  // The end of the last drain, to tell a burst of requests from one alone.
  let lastDrainEnd = -Infinity
  const drain = (): void => {
    const spin = performance.now() - lastDrainEnd < BURST_MS
    let spinUntil = 0
    for (let served = 0; served < BATCH;) {
      const n = readDevice(fd, inBuf)
      if (n === -EAGAIN) {
        if (!spin) break
        if (spinUntil === 0) {
          // Work for the request expected next, done while waiting for it.
          ops.idle()
          spinUntil = performance.now() + SPIN_MS
        }
        if (performance.now() >= spinUntil) break
        continue
      }
      spinUntil = 0
      // ENOENT: a request interrupted before we read it; EINTR: a signal.
      if (n === -ENOENT || n === -EINTR) continue
      if (n < 0) return finish(-n)
      served++
      try {
        serve(n)
      } catch (e) {
        log('error', `FUSE request not served: ${e instanceof Error ? e.stack ?? e.message : String(e)}`)
      }
    }
    lastDrainEnd = performance.now()
  }
  // libuv reports the device's POLLERR (the connection ended) as an error
  // and stops watching; the read then says why (ENODEV).
  const watch = new FdWatch(fd, UV_READABLE, (_events, error) => {
    drain()
    if (error !== undefined && connected) log('error', `FUSE device poll failed (${error}) with the connection still up`)
  })

  try {
    await readyP
  } catch (err) {
    closing = true
    watch.stop()
    try { unmountFuse(opts.mountpoint) } catch {}
    fs.closeSync(fd)
    throw err
  }

  return {
    mount,
    ended: endedP,
    notify: notes => {
      if (!initialized || closing || !connected) return
      for (const note of notes) {
        fs.write(fd, note, err => {
          // ENOENT: the kernel had nothing cached under that name.
          if (err !== null && err.code !== 'ENOENT' && !closing) log('debug', `FUSE notification not delivered: ${err.message}`)
        })
      }
    },
    unmount: async () => {
      if (closing) return
      closing = true
      const how = connected ? unmountFuse(opts.mountpoint) : 'unmounted'
      if (how === 'detached') log('warn', `${opts.mountpoint} is busy: detached; it goes away once nothing uses it`)
      if (how !== 'unmounted') {
        // Detached, here or from outside, while something still uses it.
        // Nobody will serve it: end the connection, so its users hear
        // ENOTCONN.
        try {
          // Undefined, the connection ended already: its last user left.
          abortMountConnection(mount.device)
        } catch (err) {
          log('error', `cannot end the FUSE connection of ${opts.mountpoint}: ${err instanceof Error ? err.message : String(err)}`)
        }
      }
      // Once the kernel lets go of the connection, the device says ENODEV.
      await Promise.race([endedP, new Promise(resolve => setTimeout(resolve, 1000).unref())])
      watch.stop()
      fs.closeSync(fd)
    },
  }
}
