// Discovery source: nsfs bind mounts (`ip netns add`, a container runtime's
// pinned namespaces), in every mount namespace a task is in. mountinfo names
// the namespace (`net:[ino]` as the mount's root), so nothing is opened here.
import { readMountinfo, type MountEntry } from '../kernel/mountinfo.js'
import { isDenied, isGone, parseNsLink, readTaskStart } from '../kernel/procfs.js'
import type { Holder, TaskHolder } from '../model/namespace.js'
import { addFound, type Found } from './found.js'

// One task per mount namespace: the one whose mountinfo and root are read.
export interface MountNsTask {
  readonly mntIno: number
  readonly pid: number
  readonly tid: number
}

// The nsfs bind mounts of one mount namespace, read through one of its
// tasks; undefined when that task is gone (or no longer lets us look).
export function readMountNamespace (procRoot: string, task: MountNsTask, ownMntIno: number | undefined): Found | undefined {
  const base = task.pid === task.tid ? `${procRoot}/${task.pid}` : `${procRoot}/${task.pid}/task/${task.tid}`
  const mounts = readMountsOf(`${base}/mountinfo`)
  if (mounts === undefined) return undefined
  const start = readTaskStart(procRoot, task.pid, task.tid)
  if (start === undefined) return undefined
  const found: Found = new Map()
  for (const m of nsfsMounts(mounts)) {
    const link = parseNsLink(m.root)
    if (link === undefined) continue
    const holder: Holder = {
      kind: 'mount',
      pid: task.pid,
      tid: task.tid,
      start,
      mountPoint: m.mountPoint,
      mountId: m.mountId,
      local: task.mntIno === ownMntIno,
    }
    addFound(found, link.type, link.ino, holder)
  }
  return found
}

// The nsfs mounts of one mount namespace, leaving out any that lies under an
// nsfs FUSE mount: following those would walk into a daemon's own tree.
export function nsfsMounts (mounts: readonly MountEntry[]): MountEntry[] {
  const fuseRoots = mounts.filter(m => m.fstype === 'fuse.nsfs').map(m => m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`)
  return mounts.filter(m => m.fstype === 'nsfs' && !fuseRoots.some(r => m.mountPoint.startsWith(r)))
}

function readMountsOf (path: string): MountEntry[] | undefined {
  try {
    return readMountinfo(path)
  } catch (err) {
    // EINVAL: a task with no mount namespace any more (exiting).
    if (isGone(err) || isDenied(err) || (err as NodeJS.ErrnoException).code === 'EINVAL') return undefined
    throw err
  }
}

// The oldest task of each mount namespace the task scan found.
export function mountNamespaceTasks (tasks: Found<TaskHolder>): MountNsTask[] {
  const out: MountNsTask[] = []
  for (const entry of tasks.values()) {
    const first = entry.holders[0]
    if (entry.type === 'mnt' && first !== undefined) out.push({ mntIno: entry.ino, pid: first.pid, tid: first.tid })
  }
  return out
}
