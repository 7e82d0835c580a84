// The vocabulary shared by discovery, the model and the filesystem: what a
// namespace is, how it is identified and who holds it. Plain data only, so a
// snapshot can cross a worker boundary and tests can build one by hand.

export const NS_TYPES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'] as const
export type NsType = (typeof NS_TYPES)[number]

export function isNsType (s: string): s is NsType {
  return (NS_TYPES as readonly string[]).includes(s)
}

// Identity of a namespace. `id` is the 64-bit NS_GET_ID value (decimal) on
// kernels that have it, never reused within a boot; dev:ino is always kept
// because it is what /proc and stat(2) show.
export interface NsIdentity {
  readonly type: NsType
  readonly id: string | null
  readonly dev: number
  readonly ino: number
  // Its key, made once where the namespace is described and carried along:
  // each module that keys a map by it would otherwise make its own copy of
  // the string (7 per namespace; live heap at 20,000: 64 → 60 MiB).
  // Hand-built identities leave it out.
  readonly key?: NsKey
}

// `${type}:${id}` or `${type}:${dev}:${ino}`: the key every map is indexed by.
export type NsKey = `${NsType}:${string}`

// `${type}:${ino}`, as a /proc/PID/ns link or a mount's root names a
// namespace before it is opened: another thing than its key (an inode
// number is reused once its namespace dies), so the compiler keeps the two
// apart.
export type InoKey = string & { readonly inoKey: unique symbol }

export function inoKey (type: NsType, ino: number): InoKey {
  return `${type}:${ino}` as InoKey
}

export function parseInoKey (k: InoKey): { type: NsType, ino: number } {
  const i = k.indexOf(':')
  return { type: k.slice(0, i) as NsType, ino: Number(k.slice(i + 1)) }
}

export function nsKey (ns: NsIdentity): NsKey {
  if (ns.key !== undefined) return ns.key
  return ns.id !== null ? `${ns.type}:${ns.id}` : `${ns.type}:${ns.dev}:${ns.ino}`
}

// The identity text that default names are derived from: the kernel's id
// where there is one, else device and inode.
export function identityText (ns: NsIdentity): string {
  return ns.id !== null ? `id:${ns.id}` : `ino:${ns.dev}:${ns.ino}`
}

// Something that keeps a namespace alive and through which it can be opened.
// Each kind records what is needed to check, when the handle is followed,
// that it still leads to the same namespace.
export type Holder =
  // A thread: /proc/PID/task/TID/ns/TYPE. `start` is the task's start time
  // (clock ticks since boot, /proc/PID/stat field 22) so a reused pid is told
  // apart from the task that was scanned.
  | { readonly kind: 'task', readonly pid: number, readonly tid: number, readonly start: number }
  // The pid or time namespace a process's next children will be in
  // (/proc/PID/ns/pid_for_children, time_for_children), which no task may be
  // in yet (e.g. after unshare(CLONE_NEWTIME) without a fork).
  | { readonly kind: 'for-children', readonly pid: number, readonly start: number }
  // An open file descriptor of a process: /proc/PID/fd/FD.
  | { readonly kind: 'fd', readonly pid: number, readonly fd: number, readonly start: number }
  // An nsfs bind mount at `mountPoint` in the mount namespace of task
  // pid/tid (start time `start`). `local` when that is the mount namespace
  // nsfs runs in: then the plain path reaches it, otherwise the task's
  // /proc/PID/root does.
  | {
    readonly kind: 'mount'
    readonly pid: number
    readonly tid: number
    readonly start: number
    readonly mountPoint: string
    readonly mountId: number
    readonly local: boolean
  }

export type HolderKind = Holder['kind']
export type TaskHolder = Extract<Holder, { readonly kind: 'task' }>

// The path through which the holder opens the namespace.
export function holderPath (holder: Holder, type: NsType, procRoot = '/proc'): string {
  switch (holder.kind) {
    case 'task':
      return holder.pid === holder.tid
        ? `${procRoot}/${holder.pid}/ns/${type}`
        : `${procRoot}/${holder.pid}/task/${holder.tid}/ns/${type}`
    case 'for-children':
      return `${procRoot}/${holder.pid}/ns/${type}_for_children`
    case 'fd':
      return `${procRoot}/${holder.pid}/fd/${holder.fd}`
    case 'mount':
      if (holder.local) return holder.mountPoint
      return holder.pid === holder.tid
        ? `${procRoot}/${holder.pid}/root${holder.mountPoint}`
        : `${procRoot}/${holder.pid}/task/${holder.tid}/root${holder.mountPoint}`
  }
}

export interface Namespace extends NsIdentity {
  // Owning user namespace (NS_GET_USERNS); null when it lies outside the
  // daemon's view, then the namespace is shown at the root.
  readonly owner: NsKey | null
  // Parent namespace (NS_GET_PARENT) for user and pid namespaces.
  readonly parent: NsKey | null
  // Owner uid of a user namespace (NS_GET_OWNER_UID), else null.
  readonly ownerUid: number | null
  // Empty for a namespace known only as an ancestor of another (or only
  // to listns(2)).
  readonly holders: readonly Holder[]
  // True when listns(2) listed it (kernels 6.19+).
  readonly listed?: boolean
}

// What one discovery pass found: every namespace by key, and the user
// namespace the daemon itself lives in (the root of the tree).
export interface Discovery {
  readonly root: NsKey
  readonly namespaces: ReadonlyMap<NsKey, Namespace>
  readonly scannedAt: number
  readonly durationMs: number
}
