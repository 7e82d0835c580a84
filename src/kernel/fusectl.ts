// The kernel's FUSE control filesystem (fusectl): writing to
// /sys/fs/fuse/connections/N/abort ends connection N at once, failing every
// request in flight, even when its daemon hangs.
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import { NsfsError } from '../errors.js'

export const FUSECTL = '/sys/fs/fuse/connections'

// The connection number of a FUSE mount: the minor of its device
// ("0:52" → 52 in mountinfo).
export function connectionOf (device: string): number {
  const m = /^\d+:(\d+)$/.exec(device)
  if (m === null) throw new NsfsError('EINVAL', `not a major:minor device number: '${device}'`)
  return Number(m[1])
}

function fusectlMounted (mountinfo: string): boolean {
  return mountinfo.split('\n').some(l => l.split(' ')[4] === FUSECTL && / - fusectl /.test(l))
}

// Mounts fusectl where the kernel expects it, unless it is there already.
export function ensureFusectl (): void {
  if (fusectlMounted(fs.readFileSync('/proc/self/mountinfo', 'utf8'))) return
  const r = spawnSync('mount', ['-t', 'fusectl', 'fusectl', FUSECTL], { encoding: 'utf8' })
  if (r.status !== 0) throw new NsfsError('ENODEV', `cannot mount the FUSE control filesystem (${r.stderr.trim()})`, { path: FUSECTL })
}

// Ends the FUSE connection of the mount whose device (major:minor in
// mountinfo) is `device`, mounting fusectl if needed. Answers the
// connection number, or undefined when the connection had ended already.
export function abortMountConnection (device: string): number | undefined {
  const conn = connectionOf(device)
  ensureFusectl()
  const file = `${FUSECTL}/${conn}/abort`
  try {
    fs.writeFileSync(file, '1')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new NsfsError('EIO', 'cannot abort the FUSE connection', { path: file, cause: err })
  }
  return conn
}
