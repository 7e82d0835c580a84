// Verifies, at the moment a handle is followed, that a holder path still
// leads to the namespace the entry names: same inode behind the link and the
// same task (start time) behind the pid.
import { holderPath, type Namespace } from '../model/namespace.js'
import { readNsLink, readTaskStart } from './procfs.js'

export function resolveHandle (ns: Namespace, procRoot = '/proc'): string | undefined {
  for (const h of ns.holders) {
    switch (h.kind) {
      case 'task': {
        const link = readNsLink(holderPath(h, ns.type, procRoot))
        if (link?.ino !== ns.ino) continue
        if (readTaskStart(procRoot, h.pid, h.tid) !== h.start) continue
        return holderPath(h, ns.type)
      }
    }
  }
  return undefined
}
