// Checks before mounting, each failing with one line that names the cause:
// not root, no /dev/fuse, a busy mountpoint. A mount left stale by a crashed
// daemon is cleaned up here.
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { NsfsError } from '../errors.js'
import { detachMount } from '../kernel/fuse-mount.js'
import { readMountinfo } from '../kernel/mountinfo.js'
import type { Logger } from '../log.js'

export function checkRoot (uid = process.getuid?.() ?? -1): void {
  if (uid !== 0) {
    throw new NsfsError('EPERM', `must run as root to see every process's namespaces (running as uid ${uid})`)
  }
}

export function checkFuseDevice (dev = '/dev/fuse'): void {
  try {
    fs.accessSync(dev, fs.constants.R_OK | fs.constants.W_OK)
  } catch (err) {
    throw new NsfsError('ENODEV', 'cannot open the FUSE device (load the fuse module, or give a container --device /dev/fuse)', { path: dev, cause: err })
  }
}

// Whether the mountpoint is a FUSE mount whose daemon is gone (the kernel
// answers ENOTCONN). statfs, because the kernel may answer a stat from
// attributes it cached while the daemon lived. It runs in a child with a
// time limit: a hung daemon's mount would block it, and we must never block
// on a mount.
function isStale (mountpoint: string): boolean {
  const r = spawnSync('stat', ['-f', '-c', '%t', '--', mountpoint], { encoding: 'utf8', timeout: 5000, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' } })
  if (r.status === 0) return false
  if (r.signal !== null) throw new NsfsError('EBUSY', 'the mount there does not answer (a hung daemon?); free it with `nsfs umount --force`', { path: mountpoint })
  // ENOTCONN, or ECONNABORTED while the dead daemon's last thread exits.
  if (/not connected|connection abort/.test(r.stderr)) return true
  if (/No such file/.test(r.stderr)) return false
  throw new NsfsError('EIO', `cannot stat the mountpoint (${r.stderr.trim()})`, { path: mountpoint })
}

// Ready to mount on: exists, is a directory, has nothing mounted on it.
export function prepareMountpoint (mountpoint: string, log: Logger): string {
  const abs = path.resolve(mountpoint)
  if (isStale(abs)) {
    if (!detachMount(abs)) throw new NsfsError('EBUSY', 'a stale FUSE mount is in the way and could not be detached', { path: abs })
    log('warn', `recovered a stale mount left by a crashed daemon at ${abs}`)
  }
  const mounted = readMountinfo().filter(m => m.mountPoint === abs).at(-1)
  if (mounted !== undefined) {
    throw new NsfsError('EBUSY', `mountpoint is busy: ${mounted.fstype} from ${mounted.source} is mounted there`, { path: abs })
  }
  try {
    fs.mkdirSync(abs, { recursive: true })
  } catch (err) {
    throw new NsfsError('ENOTDIR', 'cannot create the mountpoint', { path: abs, cause: err })
  }
  if (!fs.statSync(abs).isDirectory()) throw new NsfsError('ENOTDIR', 'mountpoint is not a directory', { path: abs })
  return abs
}
