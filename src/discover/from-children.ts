// Discovery source: the pid and time namespaces a process's next children
// will be in (/proc/PID/ns/pid_for_children, time_for_children). After
// unshare(CLONE_NEWTIME) without a fork, no task is in that namespace yet and
// only this link holds it. Read per process (its main thread), and kept only
// where it differs from every namespace the task scan found.
import { listPids, readNsLink, readTaskStart } from '../kernel/procfs.js'
import { addFound, type Found } from './found.js'

export function scanForChildren (procRoot: string, tasks: Found): Found {
  const found: Found = new Map()
  for (const pid of listPids(procRoot)) {
    for (const type of ['pid', 'time'] as const) {
      // ENOENT for a pid namespace whose first process is not forked yet.
      const link = readNsLink(`${procRoot}/${pid}/ns/${type}_for_children`)
      if (link === undefined || link.type !== type || tasks.has(`${type}:${link.ino}`)) continue
      const start = readTaskStart(procRoot, pid, pid)
      if (start !== undefined) addFound(found, type, link.ino, { kind: 'for-children', pid, start })
    }
  }
  return found
}
