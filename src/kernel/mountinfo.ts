// /proc/PID/mountinfo, parsed (proc(5)): which filesystems are mounted where.
import fs from 'node:fs'

export interface MountEntry {
  readonly mountId: number
  readonly parentId: number
  // major:minor of the filesystem; for FUSE the minor is the connection
  // number under /sys/fs/fuse/connections.
  readonly device: string
  readonly root: string
  readonly mountPoint: string
  readonly fstype: string
  readonly source: string
}

// Mount paths escape space, tab, newline and backslash as octal.
function unescape (s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

export function parseMountinfo (text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const [left, right] = line.split(' - ')
    if (left === undefined || right === undefined) continue
    const f = left.split(' ')
    const [fstype, source] = right.split(' ')
    if (f.length < 6 || fstype === undefined || source === undefined) continue
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      device: f[2] ?? '',
      root: unescape(f[3] ?? ''),
      mountPoint: unescape(f[4] ?? ''),
      fstype,
      source: unescape(source),
    })
  }
  return out
}

export function readMountinfo (path = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountinfo(fs.readFileSync(path, 'utf8'))
}

// Where nsfs trees are mounted in our mount namespace, longest first.
export function nsfsMountpoints (): string[] {
  return readMountinfo().filter(m => m.fstype === 'fuse.nsfs').map(m => m.mountPoint).sort((a, b) => b.length - a.length)
}
