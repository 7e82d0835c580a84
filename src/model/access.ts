// Who may see what: the kernel's own rules, applied to a discovery. A caller
// sees a namespace where listns(2) (Linux 6.19) would list it for that
// caller — it is in it, or it has CAP_SYS_ADMIN in the user namespace that
// owns it (for a user namespace, in that one itself) — and a holder's
// process where ptrace read access would let it read /proc/PID/ns. Pure:
// credentials come in already read (kernel/credentials.ts) and resolved to
// namespace keys.
import { dirOf, isShown } from './tree-node.js'
import type { Discovery, Namespace, NsKey, NsType } from './namespace.js'

export const CAP_SYS_PTRACE = 19
export const CAP_SYS_ADMIN = 21

// A task's credentials as the kernel's checks use them; uids and gids as
// the daemon's user namespace maps them (what /proc/PID/status shows it).
export interface Credentials {
  readonly tgid: number
  readonly uid: number
  readonly euid: number
  readonly suid: number
  readonly fsuid: number
  readonly gid: number
  readonly egid: number
  readonly sgid: number
  readonly fsgid: number
  // CapEff, one bit per capability.
  readonly capEff: bigint
  // The user namespace of its credentials; undefined when it is not in the
  // discovery (outside the daemon's view, or too new to be in it yet).
  readonly userns: NsKey | undefined
}

// A thread that makes requests: its credentials and the namespace of each
// type it is in (its /proc/TID/ns links), by key.
export interface Caller extends Credentials {
  readonly tid: number
  readonly current: ReadonlyMap<NsType, NsKey>
}

// A holder's task, for the ptrace read check.
export interface TaskCredentials extends Credentials {
  // The kernel's SUID_DUMP_USER: false after a setuid exec and the like,
  // when /proc/PID belongs to root rather than to the task's euid.
  readonly dumpable: boolean
}

function hasCap (caps: bigint, cap: number): boolean {
  return ((caps >> BigInt(cap)) & 1n) === 1n
}

// Depth of a user namespace (the initial one is 0); undefined when its
// chain of parents leaves the discovery.
function levelOf (d: Discovery, key: NsKey): number | undefined {
  let level = 0
  for (let k: NsKey | null = key; k !== null; level++) {
    const ns = d.namespaces.get(k)
    if (ns === undefined || level > 64) return undefined
    k = ns.parent
  }
  return level - 1
}

// cap_capable(): whether `cred` has `cap` in the user namespace `target`.
// Its own namespace: its effective set decides. A namespace below it: the
// owner of the child of its own namespace on the way down has every
// capability there, else its effective set in its own namespace decides.
// Anywhere else: no.
export function capable (d: Discovery, cred: Credentials, target: NsKey, cap: number): boolean {
  const own = cred.userns
  if (own === undefined) return false
  const ownLevel = levelOf(d, own)
  if (ownLevel === undefined) return false
  for (let k: NsKey | null = target, depth = 0; k !== null && depth <= 64; depth++) {
    if (k === own) return hasCap(cred.capEff, cap)
    const ns: Namespace | undefined = d.namespaces.get(k)
    const level = levelOf(d, k)
    if (ns === undefined || level === undefined || level <= ownLevel) return false
    if (ns.parent === own && ns.ownerUid === cred.euid) return true
    k = ns.parent
  }
  return false
}

// ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS): the same thread
// group; or the caller's fsuid and fsgid are every uid and gid of the task
// and the task is dumpable; CAP_SYS_PTRACE in the task's user namespace
// overrides both tests.
export function mayReadTask (d: Discovery, caller: Credentials, task: TaskCredentials): boolean {
  if (caller.tgid === task.tgid) return true
  const ptrace = (): boolean => task.userns !== undefined && capable(d, caller, task.userns, CAP_SYS_PTRACE)
  const same = caller.fsuid === task.uid && caller.fsuid === task.euid && caller.fsuid === task.suid &&
    caller.fsgid === task.gid && caller.fsgid === task.egid && caller.fsgid === task.sgid
  if (!same && !ptrace()) return false
  return task.dumpable || ptrace()
}

// One caller's view of one discovery, deciding once per user namespace.
export class View {
  // CAP_SYS_ADMIN in the user namespace at the root of the mount: sees all.
  readonly privileged: boolean
  private readonly admin = new Map<NsKey, boolean>()
  private passages: Set<NsKey> | undefined
  private readonly inIt: ReadonlySet<NsKey>

  constructor (private readonly d: Discovery, readonly caller: Caller | undefined) {
    this.inIt = new Set(caller?.current.values() ?? [])
    this.privileged = caller !== undefined && this.isAdmin(d.root)
  }

  // CAP_SYS_ADMIN in user namespace `key`.
  isAdmin (key: NsKey): boolean {
    if (this.caller === undefined) return false
    let v = this.admin.get(key)
    if (v === undefined) {
      v = capable(this.d, this.caller, key, CAP_SYS_ADMIN)
      this.admin.set(key, v)
    }
    return v
  }

  // listns(2)'s rule. A namespace whose owner lies outside the view is
  // owned, as far as the tree goes, by its root.
  canSee (key: NsKey, ns: Namespace): boolean {
    if (this.privileged || this.inIt.has(key)) return true
    const owner = ns.owner !== null && this.d.namespaces.has(ns.owner) ? ns.owner : this.d.root
    if (this.isAdmin(owner)) return true
    return ns.type === 'user' && this.isAdmin(key)
  }

  // Whether the directory of user namespace `key` is shown: the namespace
  // itself may be seen, or it is a passage to one that may (a directory
  // above a namespace the caller is in). A passage shows its name and
  // what the caller may see inside, nothing of its own.
  reaches (key: NsKey, ns: Namespace): boolean {
    return this.canSee(key, ns) || this.passagesOf().has(key)
  }

  private passagesOf (): Set<NsKey> {
    if (this.passages !== undefined) return this.passages
    const out = new Set<NsKey>()
    // Everything the caller may see but is not in lies in a user namespace
    // it is in or below one: so the directories above its own namespaces
    // are every passage it needs.
    for (const key of this.inIt) {
      const ns = this.d.namespaces.get(key)
      if (ns === undefined || !isShown(ns, key, this.d.root)) continue
      for (let k = dirOf(ns, key, this.d), depth = 0; k !== this.d.root && depth <= 64; depth++) {
        out.add(k)
        const dir = this.d.namespaces.get(k)
        if (dir === undefined) break
        k = dirOf(dir, k, this.d)
      }
    }
    this.passages = out
    return out
  }
}
