// Turns an nsfs file into a described namespace: identity, owner, parent and
// owner uid, walking up to the ancestors it references. Every fd is closed
// before returning, so describing never keeps a namespace alive.
import fs from 'node:fs'
import { NsfsError } from '../errors.js'
import { CLONE_FLAGS, nsKey, type Namespace, type NsKey, type NsType } from '../model/namespace.js'
import { isDenied, isGone } from './procfs.js'
import { closeFd, nsGetId, nsGetOwnerUid, nsGetParent, nsGetUserns, openNsById } from './ns-ioctl.js'

export type NsMeta = Omit<Namespace, 'holders'>

// What discovery needs from the kernel; tests substitute a fake.
export interface NsDescriber {
  // Describe the namespace behind `path`, which readlink said is type:[ino].
  // `fresh` bypasses the cache (the inode may have been reused). Answers
  // undefined when the holder vanished or now holds another namespace.
  describe: (path: string, type: NsType, ino: number, fresh: boolean) => NsMeta | undefined
  // A namespace known only by its id (from listns(2)); undefined when it
  // cannot be opened (gone, or outside our view).
  describeById: (type: NsType, id: bigint) => NsMeta | undefined
  // The namespace of `key` and every owner and parent above it.
  lineage: (key: NsKey) => NsMeta[]
  // Forget these cached namespaces (they left the snapshot).
  forget: (keys: Iterable<NsKey>) => void
}

export class KernelDescriber implements NsDescriber {
  readonly hasNsGetId: boolean
  // The device of nsfs: a file elsewhere is no namespace, whatever its inode.
  private readonly nsfsDev: number
  private readonly byIno = new Map<string, NsMeta>()
  private readonly byKey = new Map<NsKey, NsMeta>()

  constructor (probePath = '/proc/self/ns/user') {
    this.hasNsGetId = probeNsGetId(probePath)
    this.nsfsDev = fs.statSync(probePath).dev
  }

  describe (path: string, type: NsType, ino: number, fresh: boolean): NsMeta | undefined {
    if (!fresh) {
      const cached = this.byIno.get(`${type}:${ino}`)
      if (cached !== undefined) return cached
    }
    let fd: number
    try {
      // O_NONBLOCK: should the fd or mount point have become a FIFO since the
      // readlink, the open must not wait for a writer (nsfs files ignore it).
      fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY)
    } catch (err) {
      if (isGone(err) || isDenied(err)) return undefined
      throw err
    }
    try {
      // The task may have moved to another namespace since the readlink, or
      // the fd or mount point now be another file altogether.
      const st = fs.fstatSync(fd)
      if (st.ino !== ino || st.dev !== this.nsfsDev) return undefined
      return this.describeFd(fd, type, path, true)
    } finally {
      fs.closeSync(fd)
    }
  }

  describeById (type: NsType, id: bigint): NsMeta | undefined {
    const path = `nsid:${id}`
    let fd: number
    try {
      fd = openNsById(id, CLONE_FLAGS[type])
    } catch (err) {
      if (err instanceof NsfsError) return undefined
      throw err
    }
    try {
      return this.describeFd(fd, type, path, true)
    } finally {
      closeFd(fd)
    }
  }

  lineage (key: NsKey): NsMeta[] {
    const out: NsMeta[] = []
    const seen = new Set<NsKey>()
    const walk = (k: NsKey | null): void => {
      if (k === null || seen.has(k)) return
      seen.add(k)
      const meta = this.byKey.get(k)
      if (meta === undefined) return
      out.push(meta)
      walk(meta.owner)
      walk(meta.parent)
    }
    walk(key)
    return out
  }

  forget (keys: Iterable<NsKey>): void {
    for (const k of keys) {
      const meta = this.byKey.get(k)
      if (meta === undefined) continue
      this.byKey.delete(k)
      const inoKey = `${meta.type}:${meta.ino}`
      if (this.byIno.get(inoKey) === meta) this.byIno.delete(inoKey)
    }
  }

  private describeFd (fd: number, type: NsType, path: string, fresh: boolean): NsMeta {
    const st = fs.fstatSync(fd)
    const id = this.hasNsGetId ? nsGetId(fd, path).toString() : null
    const key = nsKey({ type, id, dev: st.dev, ino: st.ino })
    // An ancestor already described under the same 64-bit id is the same
    // namespace (ids are never reused); without ids, describe it again.
    const known = this.byKey.get(key)
    if (!fresh && id !== null && known !== undefined) return known

    const owner = this.related(fd, path, 'owner', 'user')
    const parent = type === 'user' ? owner : type === 'pid' ? this.related(fd, path, 'parent', 'pid') : null
    const meta: NsMeta = {
      type,
      id,
      dev: st.dev,
      ino: st.ino,
      owner,
      parent,
      ownerUid: type === 'user' ? nsGetOwnerUid(fd, path) : null,
    }
    this.byKey.set(key, meta)
    this.byIno.set(`${type}:${st.ino}`, meta)
    return meta
  }

  // Owner or parent through a short-lived fd; EPERM means it lies outside
  // our view (e.g. the initial user namespace has no owner).
  private related (fd: number, path: string, rel: 'owner' | 'parent', type: NsType): NsKey | null {
    let other: number
    try {
      other = rel === 'owner' ? nsGetUserns(fd, path) : nsGetParent(fd, path)
    } catch (err) {
      if (err instanceof NsfsError && err.code === 'EPERM') return null
      throw err
    }
    try {
      return nsKey(this.describeFd(other, type, `${path} (${rel})`, false))
    } finally {
      closeFd(other)
    }
  }
}

function probeNsGetId (path: string): boolean {
  const fd = fs.openSync(path, fs.constants.O_RDONLY)
  try {
    nsGetId(fd, path)
    return true
  } catch (err) {
    if (err instanceof NsfsError && (err.code === 'ENOTTY' || err.code === 'EINVAL')) return false
    throw err
  } finally {
    fs.closeSync(fd)
  }
}
