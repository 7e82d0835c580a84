// Turns an nsfs file into described namespaces: identity, owner, parent and
// owner uid, and the same for the ancestors it references, up to the first
// one the caller already knows. Stateless (discovery keeps what it learnt,
// discover/describe-cache.ts), and every fd is closed before returning, so
// describing never keeps a namespace alive.
import fs from 'node:fs'
import { NsfsError } from '../errors.js'
import { nsKey, type Namespace, type NsKey, type NsType } from '../model/namespace.js'
import { closeFd, nsGetId, nsGetOwnerUid, nsGetParent, nsGetUserns, openNsById } from './ns-ioctl.js'
import { CLONE_FLAGS } from './clone-flags.js'
import { isDenied, isGone } from './procfs.js'

// A namespace as the kernel describes it, without the holders discovery
// finds for it.
export type NsDescription = Omit<Namespace, 'holders'>

// Whether an ancestor needs describing: the description already known for
// `key`, or undefined.
export type Known = (key: NsKey) => NsDescription | undefined

export class NsReader {
  readonly hasNsGetId: boolean
  // The device of nsfs: a file elsewhere is no namespace, whatever its inode.
  private readonly nsfsDev: number

  constructor (probePath = '/proc/self/ns/user') {
    this.hasNsGetId = probeNsGetId(probePath)
    this.nsfsDev = fs.statSync(probePath).dev
  }

  // The namespace behind `path`, which readlink said is type:[ino], then the
  // ancestors `known` does not have. Undefined when the holder vanished or
  // now holds another namespace.
  describePath (path: string, type: NsType, ino: number, known: Known): NsDescription[] | undefined {
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
      return this.describeFd(fd, type, path, known, true, st)
    } finally {
      fs.closeSync(fd)
    }
  }

  // A namespace known only by its id (from listns(2)); undefined when it
  // cannot be opened (gone, or outside our view).
  describeId (type: NsType, id: bigint, known: Known): NsDescription[] | undefined {
    let fd: number
    try {
      fd = openNsById(id, CLONE_FLAGS[type])
    } catch (err) {
      if (err instanceof NsfsError) return undefined
      throw err
    }
    try {
      return this.describeFd(fd, type, `nsid:${id}`, known, true)
    } finally {
      closeFd(fd)
    }
  }

  // `st`: the fd's stat where the caller has it.
  private describeFd (fd: number, type: NsType, path: string, known: Known, self: boolean, st?: fs.Stats): NsDescription[] {
    const id = this.hasNsGetId ? nsGetId(fd, path).toString() : null
    // An ancestor already described under the same 64-bit id is the same
    // namespace (ids are never reused); without ids, describe it again.
    const had = self || id === null ? undefined : known(nsKey({ type, id, dev: 0, ino: 0 }))
    if (had !== undefined) return [had]
    st ??= fs.fstatSync(fd)
    const key = nsKey({ type, id, dev: st.dev, ino: st.ino })
    const out: NsDescription[] = []
    const owner = this.related(fd, path, 'owner', 'user', known, out)
    const parent = type === 'user' ? owner : type === 'pid' ? this.related(fd, path, 'parent', 'pid', known, out) : null
    const ownerUid = type === 'user' ? nsGetOwnerUid(fd, path) : null
    return [{ type, id, dev: st.dev, ino: st.ino, key, owner, parent, ownerUid }, ...out]
  }

  // Owner or parent through a short-lived fd, its descriptions added to
  // `out`; EPERM means it lies outside our view (e.g. the initial user
  // namespace has no owner).
  private related (fd: number, path: string, rel: 'owner' | 'parent', type: NsType, known: Known, out: NsDescription[]): NsKey | null {
    let other: number
    try {
      other = rel === 'owner' ? nsGetUserns(fd, path) : nsGetParent(fd, path)
    } catch (err) {
      if (err instanceof NsfsError && err.code === 'EPERM') return null
      throw err
    }
    try {
      const chain = this.describeFd(other, type, `${path} (${rel})`, known, false)
      for (const d of chain) if (!out.some(o => nsKey(o) === nsKey(d))) out.push(d)
      return nsKey(chain[0] as NsDescription)
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
