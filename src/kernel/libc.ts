// libc through koffi, and the errors of the calls made through it: shared by
// the modules in src/kernel, the only ones that talk to the kernel.
import koffi from 'koffi'
import os from 'node:os'
import { NsfsError, type ErrnoCode, isErrnoCode } from '../errors.js'

export const libc = koffi.load('libc.so.6')

const errnoNames = new Map<number, string>(
  Object.entries(os.constants.errno).map(([name, n]) => [n, name]))

// Throws the errno the last call left, naming the call and what it was on.
export function syscallFailed (syscall: string, path: string): never {
  const errno = koffi.errno()
  const name = errnoNames.get(errno) ?? 'EIO'
  const code: ErrnoCode = isErrnoCode(name) ? name : 'EIO'
  throw new NsfsError(code, `${syscall} failed (${name})`, { path, syscall })
}
