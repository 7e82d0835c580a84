// The per-boot seed that default names are derived from: the kernel's boot
// id unless --seed gives one (tests use that to see names change).
import { parse, validate } from 'uuid'
import { NsfsError } from '../errors.js'

export function parseSeedHex (hex: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
    throw new NsfsError('EINVAL', `--seed wants an even number of hex digits, got '${hex}'`)
  }
  return Buffer.from(hex, 'hex')
}

export function seedFromBootId (bootId: string): Uint8Array {
  if (!validate(bootId)) throw new NsfsError('EINVAL', `kernel boot id is not a UUID: '${bootId}'`)
  return parse(bootId)
}
