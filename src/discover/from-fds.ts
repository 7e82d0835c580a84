// Discovery source: namespaces held by open file descriptors
// (/proc/PID/fd/N). readlink of an nsfs fd reads `type:[ino]`, which tells
// an nsfs file from any other without opening it.
import { listFds, readNsLink, readTaskStart } from '../kernel/procfs.js'
import type { Sighting } from './found.js'

// The namespaces one process holds open. `skipPid`: the process running
// discovery, whose own momentary fds (opened to describe a namespace) hold
// nothing.
export function readProcFds (procRoot: string, pid: number, skipPid: number): Sighting[] {
  const out: Sighting[] = []
  if (pid === skipPid) return out
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
