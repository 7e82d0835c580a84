// What the task source (task-watch.ts) finds: namespaces by type and inode,
// each with the tasks holding it. readlink gives type and inode without
// opening anything; only namespaces not seen before are opened and described.
import type { Holder, NsType, TaskHolder } from '../model/namespace.js'

// `${type}:${ino}` → the tasks holding it.
export type TaskHolders = Map<string, { type: NsType, ino: number, holders: TaskHolder[] }>

export function holderTag (h: Holder): string {
  switch (h.kind) {
    case 'task': return `task:${h.tid}:${h.start}`
    case 'for-children': return `for-children:${h.pid}:${h.start}`
    case 'fd': return `fd:${h.pid}:${h.fd}:${h.start}`
    case 'mount': return `mount:${h.tid}:${h.start}:${h.mountId}`
  }
}
