// Verifies, at the moment a handle is followed, that a holder path still
// leads to the namespace the entry names: the same namespace behind the link
// or the mount point, and the same task (start time) behind the pid.
import fs from 'node:fs'
import { holderPath, type Holder, type Namespace } from '../model/namespace.js'
import { readNsLink, readTaskStart } from './procfs.js'

export function resolveHandle (ns: Namespace, procRoot = '/proc'): string | undefined {
  for (const h of ns.holders) {
    if (stillHolds(h, ns, procRoot)) return holderPath(h, ns.type)
  }
  return undefined
}

function stillHolds (h: Holder, ns: Namespace, procRoot: string): boolean {
  switch (h.kind) {
    case 'task': {
      const link = readNsLink(holderPath(h, ns.type, procRoot))
      return link?.ino === ns.ino && readTaskStart(procRoot, h.pid, h.tid) === h.start
    }
    case 'for-children': {
      const link = readNsLink(holderPath(h, ns.type, procRoot))
      return link?.ino === ns.ino && readTaskStart(procRoot, h.pid, h.pid) === h.start
    }
    case 'fd': {
      // readlink of an nsfs fd says `type:[ino]` without opening anything.
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
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'ENOTDIR' || code === 'EPERM' || code === 'ELOOP') return undefined
    throw err
  }
}
