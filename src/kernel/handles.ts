// The handles an entry answers with, for one caller: verified at the moment
// it is followed (the same namespace behind the link or the mount point,
// and the same task, by start time, behind the pid), among the holders the
// caller may know of (ptrace read access), as paths it can open (pids in
// its own pid namespace, mount points through a task's root when it is in
// another mount namespace).
import fs from 'node:fs'
import { mayReadTask, type TaskCredentials, type View } from '../model/access.js'
import { holderPath, nsKey, type Discovery, type Holder, type Namespace, type NsKey, type NsType } from '../model/namespace.js'
import { readTaskStatus, type TaskStatus } from './credentials.js'
import { readNsId } from './ns-ioctl.js'
import { isDenied, isGone, readNsLink, readTaskStart } from './procfs.js'

export type KeyOf = (type: NsType, ino: number) => NsKey | undefined

// How old a check of a namespace's holders may be when a readlink is
// answered from it: a holder that moved is then no longer handed out 5 ms
// later, within the 10 ms promised.
export const FRESH_MS = 5

// The daemon's own pid and mount namespaces: callers in both know holders
// by the very paths discovery found.
export interface Home {
  readonly pid: NsKey | undefined
  readonly mnt: NsKey | undefined
}

export class Handles {
  // One handle checked ahead of its readlink (checkAhead).
  private ahead: { readonly ns: Namespace, readonly path: string | undefined, readonly at: number } | undefined

  constructor (
    private readonly discovery: () => Discovery,
    private readonly keyOf: KeyOf,
    private readonly home: Home,
    private readonly procRoot = '/proc',
    private readonly now: () => number = () => performance.now(),
  ) {}

  private atHome (view: View): boolean {
    const c = view.caller
    return c !== undefined && c.current.get('pid') === this.home.pid && c.current.get('mnt') === this.home.mnt
  }

  // Whether `view` knows holders as discovered.
  plain (view: View): boolean {
    return view.privileged && this.atHome(view)
  }

  alive (ns: Namespace): boolean {
    return ns.holders.length === 0 || resolveHandle(ns, this.procRoot) !== undefined
  }

  holders (ns: Namespace, view: View): readonly Holder[] {
    if (this.plain(view)) return ns.holders
    const out: Holder[] = []
    for (const h of ns.holders) {
      const mapped = this.forView(h, view)
      if (mapped !== undefined) out.push(mapped)
    }
    return out
  }

  target (ns: Namespace, view: View): string | undefined {
    // Its own: a path that means the caller itself wherever its /proc is.
    if (!view.privileged && view.caller?.current.get(ns.type) === nsKey(ns)) return `/proc/thread-self/ns/${ns.type}`
    if (this.plain(view)) {
      const ahead = this.ahead
      this.ahead = undefined
      if (ahead?.ns === ns && this.now() - ahead.at <= FRESH_MS) return ahead.path
      return resolveHandle(ns, this.procRoot)
    }
    for (const h of ns.holders) {
      const mapped = this.forView(h, view)
      if (mapped !== undefined && stillHolds(h, ns, this.procRoot)) return holderPath(mapped, ns.type)
    }
    return undefined
  }

  // Checks the holders of `ns` now, for a readlink by `view` expected next,
  // so that it is answered without a check of its own. Only plain views: for
  // others the check depends on the caller.
  checkAhead (ns: Namespace, view: View): void {
    if (this.plain(view)) this.ahead = { ns, path: resolveHandle(ns, this.procRoot), at: this.now() }
  }

  // `h` as `view` may know it, or undefined when it may not (not its to
  // read, or in no pid namespace it can name).
  private forView (h: Holder, view: View): Holder | undefined {
    const caller = view.caller
    if (caller === undefined) return undefined
    const task = readTaskStatus(this.procRoot, h.kind === 'task' || h.kind === 'mount' ? h.tid : h.pid, h.pid)
    if (task === undefined) return undefined
    const d = this.discovery()
    if (!view.privileged && !mayReadTask(d, caller, this.credentialsOf(task))) return undefined
    const local = h.kind === 'mount' && h.local && caller.current.get('mnt') === this.home.mnt
    const callerPidns = caller.current.get('pid')
    if (callerPidns === this.home.pid) return h.kind === 'mount' && h.local !== local ? { ...h, local } : h
    const taskPidns = task.links.get('pid')
    const steps = taskPidns === undefined || callerPidns === undefined ? undefined : stepsUp(d, this.keyOf('pid', taskPidns), callerPidns)
    if (steps === undefined) return undefined
    const tid = task.nspid[task.nspid.length - 1 - steps]
    const leader = h.pid === (h.kind === 'task' || h.kind === 'mount' ? h.tid : h.pid) ? task : readTaskStatus(this.procRoot, h.pid)
    const pid = leader?.nspid[leader.nspid.length - 1 - steps]
    if (tid === undefined || pid === undefined) return undefined
    switch (h.kind) {
      case 'task': return { ...h, pid, tid }
      case 'mount': return { ...h, pid, tid, local }
      case 'fd':
      case 'for-children': return { ...h, pid }
    }
  }

  private credentialsOf (t: TaskStatus): TaskCredentials {
    const user = t.links.get('user')
    return { ...t, userns: user === undefined ? undefined : this.keyOf('user', user) }
  }
}

// How many pid namespaces up from `from` `to` is; undefined when it is not
// above it (a task there has no pid in `to`).
function stepsUp (d: Discovery, from: NsKey | undefined, to: NsKey): number | undefined {
  for (let k: NsKey | null | undefined = from, steps = 0; k !== undefined && k !== null && steps <= 32; steps++) {
    if (k === to) return steps
    k = d.namespaces.get(k)?.parent
  }
  return undefined
}

export function resolveHandle (ns: Namespace, procRoot = '/proc'): string | undefined {
  for (const h of ns.holders) {
    if (stillHolds(h, ns, procRoot)) return holderPath(h, ns.type)
  }
  return undefined
}

function stillHolds (h: Holder, ns: Namespace, procRoot: string): boolean {
  switch (h.kind) {
    case 'task':
    case 'for-children': {
      // The namespace's own id where the kernel has one: whatever became
      // of the task, its link leads to this namespace or it does not.
      if (ns.id !== null) return readNsId(holderPath(h, ns.type, procRoot)) === BigInt(ns.id)
      // Else the link's inode, and the same task by its start time (an
      // inode number is reused once its namespace died).
      const link = readNsLink(holderPath(h, ns.type, procRoot))
      return link?.ino === ns.ino && readTaskStart(procRoot, h.pid, h.kind === 'task' ? h.tid : h.pid) === h.start
    }
    case 'fd': {
      // readlink of an nsfs fd says `type:[ino]` without opening anything
      // (the fd may be a FIFO by now, which an open would wait on).
      const link = readNsLink(holderPath(h, ns.type, procRoot))
      return link?.type === ns.type && link.ino === ns.ino && readTaskStart(procRoot, h.pid, h.pid) === h.start
    }
    case 'mount': {
      if (!h.local && readTaskStart(procRoot, h.pid, h.tid) !== h.start) return false
      // lstat: the mount point itself, never a symlink someone put there
      // after the bind mount went away. Discovery leaves out mount points
      // under an nsfs FUSE mount, so this never walks into our own tree.
      const st = lstatOrUndefined(holderPath(h, ns.type, procRoot))
      return st !== undefined && st.dev === ns.dev && st.ino === ns.ino
    }
  }
}

function lstatOrUndefined (path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path)
  } catch (err) {
    // A mount point that went away, or became a symlink or a file.
    const code = (err as NodeJS.ErrnoException).code
    if (isGone(err) || isDenied(err) || code === 'ENOTDIR' || code === 'ELOOP') return undefined
    throw err
  }
}
