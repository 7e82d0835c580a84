// A task's credentials and namespaces as procfs shows them to the daemon:
// what the access rules (model/access.ts) decide with. A task that is gone
// answers undefined.
import fs from 'node:fs'
import { NS_TYPES, type NsType } from '../model/namespace.js'
import { isGone, readNsLink } from './procfs.js'

export interface TaskStatus {
  readonly tgid: number
  readonly uid: number
  readonly euid: number
  readonly suid: number
  readonly fsuid: number
  readonly gid: number
  readonly egid: number
  readonly sgid: number
  readonly fsgid: number
  readonly capEff: bigint
  // Its pid in the daemon's pid namespace, then in each one below, down to
  // its own (NSpid).
  readonly nspid: readonly number[]
  // The inode of the namespace of each type it is in.
  readonly links: ReadonlyMap<NsType, number>
  // /proc/PID belongs to its euid (the kernel's SUID_DUMP_USER).
  readonly dumpable: boolean
}

// Made once: a caller's status is parsed on many requests.
const FIELDS = {
  Tgid: /^Tgid:\s+([\d\s]+)$/m,
  Uid: /^Uid:\s+([\d\s]+)$/m,
  Gid: /^Gid:\s+([\d\s]+)$/m,
  NSpid: /^NSpid:\s+([\d\s]+)$/m,
}

function ids (status: string, field: keyof typeof FIELDS): number[] {
  const m = FIELDS[field].exec(status)
  return m?.[1] === undefined ? [] : m[1].trim().split(/\s+/).map(Number)
}

// Parses /proc/PID/status; undefined when a field the checks need is missing.
export function parseStatus (status: string): Omit<TaskStatus, 'links' | 'dumpable'> | undefined {
  const [tgid] = ids(status, 'Tgid')
  const [uid, euid, suid, fsuid] = ids(status, 'Uid')
  const [gid, egid, sgid, fsgid] = ids(status, 'Gid')
  const cap = /^CapEff:\s+([0-9a-f]+)$/m.exec(status)?.[1]
  if (tgid === undefined || fsuid === undefined || fsgid === undefined || uid === undefined || euid === undefined ||
    suid === undefined || gid === undefined || egid === undefined || sgid === undefined || cap === undefined) return undefined
  const nspid = ids(status, 'NSpid')
  return { tgid, uid, euid, suid, fsuid, gid, egid, sgid, fsgid, capEff: BigInt(`0x${cap}`), nspid }
}

// The thread `tid` of process `pid` (or the thread `tid` wherever it is,
// which /proc/TID reaches too, as the FUSE header names callers).
export function readTaskStatus (procRoot: string, tid: number, pid?: number): TaskStatus | undefined {
  const base = pid === undefined ? `${procRoot}/${tid}` : `${procRoot}/${pid}/task/${tid}`
  let parsed: ReturnType<typeof parseStatus>
  let owner: number
  try {
    parsed = parseStatus(fs.readFileSync(`${base}/status`, 'latin1'))
    owner = fs.statSync(`${procRoot}/${pid ?? tid}`).uid
  } catch (err) {
    if (isGone(err)) return undefined
    throw err
  }
  if (parsed === undefined) return undefined
  const links = new Map<NsType, number>()
  for (const type of NS_TYPES) {
    const link = readNsLink(`${base}/ns/${type}`)
    if (link !== undefined) links.set(type, link.ino)
  }
  return { ...parsed, links, dumpable: owner === parsed.euid }
}
