// flock(2), which Node does not offer: an advisory lock that the kernel
// drops when its holder exits, however it exits (kill -9 included).
import koffi from 'koffi'
import os from 'node:os'
import { libc, syscallFailed } from './libc.js'

const LOCK_EX = 2
const LOCK_NB = 4

const flockRaw = libc.func('int flock(int fd, int operation)')

// Takes an exclusive lock on `fd` without waiting: false when another open
// file holds it. Other failures throw.
export function tryLockExclusive (fd: number, path: string): boolean {
  if ((flockRaw(fd, LOCK_EX | LOCK_NB) as number) === 0) return true
  if (koffi.errno() === os.constants.errno.EWOULDBLOCK) return false
  return syscallFailed('flock', path)
}
