// A container as the host sees it, given its init's host pid: its processes
// by their pids in its own pid namespace, what they hold, and the
// namespaces an export's locators name among them (model/names-export.ts).
import fs from 'node:fs'
import { nsKey, NS_TYPES, type NsKey, type NsType } from '../model/namespace.js'
import { describeLocator, linkType, type ContainerProcess, type Locator, type NsLink } from '../model/names-export.js'
import { CLONE_FLAGS } from './clone-flags.js'
import { NsReader, type NsDescription } from './describe.js'
import { nsGetNstype } from './ns-ioctl.js'
import { listFds, listPids, parseNsLink, readNsLink, readNspid } from './procfs.js'

const LINKS: readonly NsLink[] = [...NS_TYPES, 'pid_for_children', 'time_for_children']

function typeOfFlag (flag: number): NsType | undefined {
  return NS_TYPES.find(t => CLONE_FLAGS[t] === flag)
}

export class ContainerProcesses {
  private readonly reader = new NsReader()
  // The depth of the container's pid namespace in NSpid, its key and inode.
  private readonly level: number
  private readonly pidNs: NsKey
  private readonly pidNsIno: number
  private members: Map<number, number> | undefined
  private readonly described = new Map<NsKey, NsDescription>()

  constructor (private readonly init: number, private readonly procRoot = '/proc') {
    const nspid = readNspid(procRoot, init)
    if (nspid === undefined) throw new Error(`no process ${init}`)
    this.level = nspid.length - 1
    if (nspid[this.level] !== 1) throw new Error(`pid ${init} is not pid 1 of its pid namespace (it is ${nspid[this.level] ?? '?'} there)`)
    const path = `${procRoot}/${init}/ns/pid`
    this.pidNs = this.open(path, 'pid', `the pid namespace of pid ${init}`)
    this.pidNsIno = this.described.get(this.pidNs)?.ino ?? 0
  }

  // Every process of the container with its links and namespace fds.
  list (): ContainerProcess[] {
    const out: ContainerProcess[] = []
    for (const [cpid, hostPid] of this.memberMap()) {
      const links = new Map<NsLink, number>()
      for (const link of LINKS) {
        const l = readNsLink(`${this.procRoot}/${hostPid}/ns/${link}`)
        if (l !== undefined) links.set(link, l.ino)
      }
      const fds: Array<{ fd: number, type: NsType, ino: number }> = []
      for (const fd of listFds(this.procRoot, hostPid) ?? []) {
        let target: string
        try { target = fs.readlinkSync(`${this.procRoot}/${hostPid}/fd/${fd}`) } catch { continue }
        const l = parseNsLink(target)
        if (l !== undefined) fds.push({ fd, ...l })
      }
      out.push({ hostPid, cpid, links, fds })
    }
    return out.sort((a, b) => a.cpid - b.cpid)
  }

  // The namespace `l` names; throws an Error in one line when none does.
  resolve (l: Locator): NsKey {
    switch (l.kind) {
      case 'process':
        return this.open(`${this.procRoot}/${this.hostPid(l.pid)}/ns/${l.link}`, linkType(l.link), describeLocator(l))
      case 'fd':
        return this.open(`${this.procRoot}/${this.hostPid(l.pid)}/fd/${l.fd}`, undefined, describeLocator(l))
      case 'mount':
        return this.open(`${this.procRoot}/${this.hostPid(l.pid)}/root${l.path}`, undefined, describeLocator(l))
      case 'owner':
      case 'parent': {
        const d = this.described.get(this.resolve(l.of))
        const key = l.kind === 'owner' ? d?.owner : d?.parent
        if (key === undefined || key === null) throw new Error(`${describeLocator(l)}: there is none in our view`)
        return key
      }
    }
  }

  private hostPid (cpid: number): number {
    const pid = this.memberMap().get(cpid)
    if (pid === undefined) throw new Error(`the container has no pid ${cpid}`)
    return pid
  }

  // Container pid → host pid. Another container may have a process of the
  // same number at the same depth: only those whose pid namespace is the
  // container's, or below it, count.
  private memberMap (): Map<number, number> {
    if (this.members !== undefined) return this.members
    const members = new Map<number, number>([[1, this.init]])
    for (const pid of listPids(this.procRoot)) {
      const cpid = readNspid(this.procRoot, pid)?.[this.level]
      if (cpid === undefined || members.has(cpid) || !this.isMember(pid)) continue
      members.set(cpid, pid)
    }
    this.members = members
    return members
  }

  private isMember (pid: number): boolean {
    const path = `${this.procRoot}/${pid}/ns/pid`
    const link = readNsLink(path)
    if (link === undefined) return false
    if (link.ino === this.pidNsIno) return true
    let key: NsKey
    try {
      key = this.open(path, 'pid', `pid ${pid}`)
    } catch {
      return false
    }
    for (let k: NsKey | null | undefined = key, i = 0; k !== null && k !== undefined && i < 64; k = this.described.get(k)?.parent, i++) {
      if (k === this.pidNs) return true
    }
    return false
  }

  // The key of the namespace at `path`, its description and its ancestors'
  // remembered.
  private open (path: string, type: NsType | undefined, what: string): NsKey {
    let ino: number
    let t = type
    try {
      if (t === undefined) {
        const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY)
        try {
          ino = fs.fstatSync(fd).ino
          t = typeOfFlag(nsGetNstype(fd, path))
        } finally {
          fs.closeSync(fd)
        }
        if (t === undefined) throw new Error('not a namespace')
      } else {
        const link = readNsLink(path)
        if (link === undefined) throw new Error('no such namespace link')
        ino = link.ino
      }
    } catch (err) {
      throw new Error(`${what}: cannot open ${path} (${(err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err))})`)
    }
    const chain = this.reader.describePath(path, t, ino, () => undefined)
    const self = chain?.[0]
    if (chain === undefined || self === undefined) throw new Error(`${what}: ${path} changed while it was read`)
    for (const d of chain) this.described.set(nsKey(d), d)
    return nsKey(self)
  }
}
