// The overlay table on disk: one JSON file in the state directory, replaced
// atomically (temp file, fsync, rename, fsync of the directory) so a crash at
// any instant leaves either the old table or the new one. A file that cannot
// be read at start is moved aside, never overwritten.
import fs from 'node:fs'
import path from 'node:path'
import { NsfsError } from '../errors.js'
import { tryLockExclusive } from '../kernel/flock.js'
import type { Logger } from '../log.js'
import { isNsType, type NsKey } from '../model/namespace.js'
import { badNameReason, isReservedName } from '../model/name-rules.js'
import type { NameEntry, Overlay } from '../model/overlay.js'

export const STATE_FILE = 'names.json'
// Held (flock) by the daemon that owns the state directory, for its life.
export const LOCK_FILE = 'names.lock'
const FORMAT = 'nsfs-names'
const VERSION = 1

// What the state file holds: the table of one boot.
export interface OverlayFile {
  readonly bootId: string
  readonly names: Overlay
}

function isKey (s: unknown): s is NsKey {
  if (typeof s !== 'string') return false
  const i = s.indexOf(':')
  return i > 0 && isNsType(s.slice(0, i)) && s.length > i + 1
}

// Parses and validates the file's text; throws an Error saying what is wrong.
export function parseOverlayFile (text: string): OverlayFile {
  const doc = JSON.parse(text) as unknown
  if (typeof doc !== 'object' || doc === null) throw new Error('not a JSON object')
  const { format, version, bootId, names } = doc as Record<string, unknown>
  if (format !== FORMAT || version !== VERSION) throw new Error(`not an ${FORMAT} version ${VERSION} file`)
  if (typeof bootId !== 'string' || bootId === '') throw new Error('no bootId')
  if (!Array.isArray(names)) throw new Error('no names array')
  const out = new Map<NsKey, NameEntry>()
  names.forEach((e: unknown, i) => {
    const { key, type, name, dir, path: p, imported } = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>
    const bad = (why: string): never => { throw new Error(`names[${i}]: ${why}`) }
    if (!isKey(key)) return bad(`bad key ${JSON.stringify(key)}`)
    if (typeof type !== 'string' || !isNsType(type) || !key.startsWith(`${type}:`)) return bad(`type ${JSON.stringify(type)} does not match key ${key}`)
    if (typeof name !== 'string') return bad('name is not a string')
    if (imported !== undefined && imported !== true) return bad('imported is not true')
    const why = badNameReason(name) ?? (isReservedName(name) && imported !== true ? 'the name has the reserved <type>-<hex> form' : undefined)
    if (why !== undefined) return bad(why)
    if (!isKey(dir) || !dir.startsWith('user:')) return bad(`bad dir ${JSON.stringify(dir)}`)
    if (typeof p !== 'string') return bad('path is not a string')
    if (out.has(key)) return bad(`${key} is named twice`)
    out.set(key, imported === true ? { key, type, name, dir, path: p, imported } : { key, type, name, dir, path: p })
  })
  return { bootId, names: out }
}

export function formatOverlayFile (file: OverlayFile): string {
  const names = [...file.names.values()].map(e => ({ name: e.name, type: e.type, key: e.key, dir: e.dir, path: e.path, ...(e.imported === true ? { imported: true } : {}) }))
  return JSON.stringify({ format: FORMAT, version: VERSION, bootId: file.bootId, names }, null, 2) + '\n'
}

// Reads the state file; undefined when there is none. Throws what reading or
// parsing threw.
export function readOverlayFile (file: string): OverlayFile | undefined {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return parseOverlayFile(text)
}

// Makes the entries of a directory (a rename, a new file) durable.
function fsyncDir (dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

function message (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

export class OverlayStore {
  readonly file: string
  private readonly temp: string
  private lockFd: number | undefined

  readonly dir: string

  constructor (dir: string, private readonly bootId: string, private readonly log: Logger) {
    this.dir = path.resolve(dir)
    this.file = path.join(dir, STATE_FILE)
    this.temp = `${this.file}.tmp`
  }

  // The table of this boot. Creates the state directory and locks it (two
  // daemons on one table would undo each other's renames); moves an
  // unreadable or corrupt file aside, saying so; drops a table of another
  // boot.
  load (): Overlay {
    try {
      const made = fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 })
      // A new state directory must itself survive a crash, not just its files.
      if (made !== undefined) fsyncDir(path.dirname(made))
    } catch (err) {
      throw new NsfsError('EIO', `cannot create the state directory (${message(err)})`, { path: this.dir, cause: err })
    }
    this.lock()
    // Left by a crash in the middle of a save; the real file is intact.
    fs.rmSync(this.temp, { force: true })
    let file: OverlayFile | undefined
    try {
      file = readOverlayFile(this.file)
    } catch (err) {
      const aside = this.moveAside()
      this.log('error', `state file ${this.file} is unreadable (${message(err)}); moved it aside to ${aside}; starting with an empty name table`)
      return new Map()
    }
    if (file === undefined) return new Map()
    if (file.bootId !== this.bootId) {
      if (file.names.size > 0) this.log('info', `dropped ${file.names.size} names of another boot (${file.bootId}) from ${this.file}`)
      return new Map()
    }
    this.log('info', `loaded ${file.names.size} names from ${this.file}`)
    return file.names
  }

  // Durable when it returns: a rename may be answered.
  save (names: Overlay): void {
    const text = formatOverlayFile({ bootId: this.bootId, names })
    try {
      const fd = fs.openSync(this.temp, 'w', 0o600)
      try {
        fs.writeFileSync(fd, text)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
      fs.renameSync(this.temp, this.file)
      fsyncDir(this.dir)
    } catch (err) {
      throw new NsfsError('EIO', `cannot save the name table (${message(err)})`, { path: this.file, cause: err })
    }
  }

  // Lets another store load the directory (the kernel also drops the lock
  // when the process exits).
  close (): void {
    if (this.lockFd !== undefined) fs.closeSync(this.lockFd)
    this.lockFd = undefined
  }

  // The fd stays open until close() or the end of the process.
  private lock (): void {
    const lockFile = path.join(this.dir, LOCK_FILE)
    let fd: number
    try {
      fd = fs.openSync(lockFile, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600)
    } catch (err) {
      throw new NsfsError('EIO', `cannot open the lock file (${message(err)})`, { path: lockFile, cause: err })
    }
    if (!tryLockExclusive(fd, lockFile)) {
      fs.closeSync(fd)
      throw new NsfsError('EBUSY', 'the state directory is in use by another nsfs daemon (use --state-dir for another)', { path: this.dir })
    }
    this.lockFd = fd
  }

  private moveAside (): string {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
    let aside = `${this.file}.corrupt-${stamp}`
    for (let i = 1; fs.existsSync(aside); i++) aside = `${this.file}.corrupt-${stamp}-${i}`
    try {
      fs.renameSync(this.file, aside)
    } catch (err) {
      throw new NsfsError('EIO', `state file is unreadable and cannot be moved aside (${message(err)})`, { path: this.file, cause: err })
    }
    return aside
  }
}
