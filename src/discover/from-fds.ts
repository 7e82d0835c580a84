// Discovery source: namespaces held by open file descriptors
// (/proc/PID/fd/N). readlink of an nsfs fd reads `type:[ino]`, which tells
// an nsfs file from any other without opening it.
import { listFds, listPids, readNsLink, readTaskStart } from '../kernel/procfs.js'
import { addFound, type Found } from './found.js'

// `skipPid`: the process running discovery, whose own momentary fds (opened
// to describe a namespace) hold nothing.
export function scanFds (procRoot: string, skipPid: number): Found {
  const found: Found = new Map()
  for (const pid of listPids(procRoot)) {
    if (pid === skipPid) continue
    let start: number | undefined
    for (const fd of listFds(procRoot, pid) ?? []) {
      const link = readNsLink(`${procRoot}/${pid}/fd/${fd}`)
      if (link === undefined) continue
      start ??= readTaskStart(procRoot, pid, pid)
      if (start === undefined) break
      addFound(found, link.type, link.ino, { kind: 'fd', pid, fd, start })
    }
  }
  return found
}
