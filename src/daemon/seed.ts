// The per-boot seed that default names are derived from. A name must not be
// guessable from a namespace's id (ids are small counters): the kernel keeps
// the names it was told of, and anybody who can name an entry reaches it
// there without asking the daemon (see README, "Who sees what"). So the
// seed is an HMAC of the kernel's boot id under a secret kept, readable by
// root only, in the state directory: the same for the whole boot, across
// restarts; another after a reboot; nobody else's to compute. `--seed HEX`
// gives one outright (tests, benchmarks).
import { createHmac, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { parse, validate } from 'uuid'
import { NsfsError } from '../errors.js'

export const SECRET_FILE = 'seed.key'
const SECRET_BYTES = 32

export function parseSeedHex (hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
    throw new NsfsError('EINVAL', `--seed wants an even number of hex digits, got '${hex}'`)
  }
  return Buffer.from(hex, 'hex')
}

export function seedOf (secret: Uint8Array, bootId: string): Uint8Array {
  if (!validate(bootId)) throw new NsfsError('EINVAL', `kernel boot id is not a UUID: '${bootId}'`)
  return createHmac('sha256', secret).update(parse(bootId)).digest()
}

// The secret of `stateDir`, made (mode 0600) the first time it is needed.
export function readSecret (stateDir: string): Uint8Array {
  const file = path.join(stateDir, SECRET_FILE)
  try {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 })
    if (!fs.existsSync(file)) {
      // Whole or not at all, even if two starts race: link(2) of a
      // finished file, which fails when the other won.
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, randomBytes(SECRET_BYTES), { mode: 0o600 })
      try {
        fs.linkSync(tmp, file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      } finally {
        fs.rmSync(tmp, { force: true })
      }
    }
    const secret = fs.readFileSync(file)
    if (secret.length !== SECRET_BYTES) throw new Error(`it holds ${secret.length} bytes, not ${SECRET_BYTES}`)
    return secret
  } catch (err) {
    throw new NsfsError('EIO', `cannot read the naming secret (${err instanceof Error ? err.message : String(err)})`, { path: file, cause: err })
  }
}

// The seed a daemon with this state directory names with, this boot.
export function namingSeed (opts: { seedHex?: string | undefined, stateDir: string, bootId: string }): Uint8Array {
  return opts.seedHex !== undefined ? parseSeedHex(opts.seedHex) : seedOf(readSecret(opts.stateDir), opts.bootId)
}
