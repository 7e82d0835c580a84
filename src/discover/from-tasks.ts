// Discovery source: the namespaces of every task, threads included
// (/proc/PID/task/TID/ns/*). readlink gives type and inode without opening
// anything; only namespaces not seen before are opened and described.
import { listPids, listTids, readNsLink, readTaskStart } from '../kernel/procfs.js'
import { NS_TYPES, type Holder, type NsType, type TaskHolder } from '../model/namespace.js'

// `${type}:${ino}` → the tasks holding it.
export type TaskHolders = Map<string, { type: NsType, ino: number, holders: TaskHolder[] }>

export function scanTasks (procRoot: string): TaskHolders {
  const found: TaskHolders = new Map()
  for (const pid of listPids(procRoot)) {
    for (const tid of listTids(procRoot, pid) ?? []) {
      const start = readTaskStart(procRoot, pid, tid)
      if (start === undefined) continue
      const holder: TaskHolder = { kind: 'task', pid, tid, start }
      for (const type of NS_TYPES) {
        const link = readNsLink(`${procRoot}/${pid}/task/${tid}/ns/${type}`)
        if (link === undefined) continue
        const k = `${link.type}:${link.ino}`
        const entry = found.get(k)
        if (entry === undefined) found.set(k, { type: link.type, ino: link.ino, holders: [holder] })
        else entry.holders.push(holder)
      }
    }
  }
  // Oldest holder first: it is the one likeliest to outlive the others, so
  // handles point at it (kthreadd, when the kernel lets us read it).
  for (const entry of found.values()) entry.holders.sort(byAge)
  return found
}

function byAge (a: TaskHolder, b: TaskHolder): number {
  return a.start - b.start || a.pid - b.pid || a.tid - b.tid
}

export function holderTag (h: Holder): string {
  switch (h.kind) {
    case 'task': return `task:${h.tid}:${h.start}`
    case 'for-children': return `for-children:${h.pid}:${h.start}`
    case 'fd': return `fd:${h.pid}:${h.fd}:${h.start}`
    case 'mount': return `mount:${h.tid}:${h.start}:${h.mountId}`
  }
}
