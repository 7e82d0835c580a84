// CLONE_NEW* flags (linux/sched.h), as listns(2), nsfs file handles and
// unshare(2) name the namespace types.
import type { NsType } from '../model/namespace.js'

export const CLONE_FLAGS: Readonly<Record<NsType, number>> = {
  cgroup: 0x02000000,
  ipc: 0x08000000,
  mnt: 0x00020000,
  net: 0x40000000,
  pid: 0x20000000,
  time: 0x00000080,
  user: 0x10000000,
  uts: 0x04000000,
}
