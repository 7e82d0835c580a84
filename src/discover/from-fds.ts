// Discovery source: namespaces held by open file descriptors
// (/proc/PID/fd/N). readlink of an nsfs fd reads `type:[ino]`, which tells
// an nsfs file from any other without opening it.
import { listFds, listPids, readNsLink, readTaskStart } from '../kernel/procfs.js'
import { foundOf, type Found, type Sighting } from './found.js'

// The namespaces one process holds open.
export function readProcFds (procRoot: string, pid: number): Sighting[] {
  const out: Sighting[] = []
  let start: number | undefined
  for (const fd of listFds(procRoot, pid) ?? []) {
    const link = readNsLink(`${procRoot}/${pid}/fd/${fd}`)
    if (link === undefined) continue
    start ??= readTaskStart(procRoot, pid, pid)
    if (start === undefined) break
    out.push({ type: link.type, ino: link.ino, holder: { kind: 'fd', pid, fd, start } })
  }
  return out
}

// Every process's. `skipPid`: the process running discovery, whose own
// momentary fds (opened to describe a namespace) hold nothing.
export function scanFds (procRoot: string, skipPid: number): Found {
  return foundOf(listPids(procRoot).filter(pid => pid !== skipPid).flatMap(pid => readProcFds(procRoot, pid)))
}
