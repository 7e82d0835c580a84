// What the task source (task-watch.ts) finds: namespaces by type and inode,
// each with the tasks holding it. readlink gives type and inode without
// opening anything; only namespaces not seen before are opened and described.
import type { Holder, NsType } from '../model/namespace.js'

// `${type}:${ino}` → the tasks holding it.
export type TaskHolders = Map<string, { type: NsType, ino: number, holders: Holder[] }>

export function holderTag (h: Holder): string {
  switch (h.kind) {
    case 'task': return `task:${h.tid}:${h.start}`
  }
}
