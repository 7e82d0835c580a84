// Discovery source: the pid and time namespaces a process's next children
// will be in (/proc/PID/ns/pid_for_children, time_for_children). After
// unshare(CLONE_NEWTIME) without a fork, no task is in that namespace yet and
// only this link holds it. Read per process (its main thread), and kept only
// where it differs from every namespace the task scan found.
import { readNsLink, readTaskStart } from '../kernel/procfs.js'
import { inoKey } from '../model/namespace.js'
import { foundOf, type Found, type Sighting } from './found.js'

// One process's links, unless it is in that namespace itself: then the task
// source has it, and on a host of many processes keeping those sightings
// would cost a pass more than all the rest. `own` answers the inode of the
// namespace of a type its main thread is in where the caller just read it
// (the task source); undefined, and the link is read here.
export function readProcForChildren (procRoot: string, pid: number, own: (type: 'pid' | 'time') => number | undefined = () => undefined): Sighting[] {
  const out: Sighting[] = []
  let start: number | undefined
  for (const type of ['pid', 'time'] as const) {
    // ENOENT for a pid namespace whose first process is not forked yet.
    // Through its main thread's task directory, which the task source just
    // read: /proc/PID/ns would be looked up (and made by procfs) anew.
    const link = readNsLink(`${procRoot}/${pid}/task/${pid}/ns/${type}_for_children`)
    if (link === undefined || link.type !== type) continue
    if ((own(type) ?? readNsLink(`${procRoot}/${pid}/task/${pid}/ns/${type}`)?.ino) === link.ino) continue
    start ??= readTaskStart(procRoot, pid, pid)
    if (start !== undefined) out.push({ type, ino: link.ino, holder: { kind: 'for-children', pid, start } })
  }
  return out
}

// Those no task is in.
export function forChildrenOnly (sightings: Iterable<Sighting>, tasks: Found): Found {
  return foundOf(sightings, s => !tasks.has(inoKey(s.type, s.ino)))
}
