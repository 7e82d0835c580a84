// What a name chosen with rename(2) may be. Pure, so the daemon, the loader
// of the state file and the tree builder all apply the same rules.
import { NsfsError } from '../errors.js'
import { NS_TYPES } from './namespace.js'

export const NAME_MAX = 255

// `<type>-<hex>` (and the `-N` tail of a twice-colliding hash) is the shape of
// default names, so no chosen name may take it: a default name can never be
// shadowed by another namespace's chosen one.
const RESERVED = new RegExp(`^(?:${NS_TYPES.join('|')})-[0-9a-f]+(?:-[0-9]+)?$`)

export function isReservedName (name: string): boolean {
  return RESERVED.test(name)
}

// Why `name` cannot name anything, or undefined when it can. The reserved
// shape is checked separately: a namespace may take back its own default.
export function badNameReason (name: string): string | undefined {
  if (name === '') return 'the name is empty'
  if (name === '.' || name === '..') return `'${name}' cannot be a name`
  if (Buffer.byteLength(name) > NAME_MAX) return `the name is longer than ${NAME_MAX} bytes`
  // C0 controls (NUL included) and DEL: they would garble every listing.
  if (/[\x00-\x1f\x7f]/.test(name)) return 'the name contains a control character'
  if (name.includes('/')) return "the name contains '/'"
  // FUSE hands names over decoded; U+FFFD is what bytes that are not UTF-8
  // become, and a name must read back as the bytes that were asked for.
  if (name.includes('\uFFFD')) return 'the name is not valid UTF-8'
  return undefined
}

export function checkName (name: string, path?: string): void {
  if (Buffer.byteLength(name) > NAME_MAX) throw new NsfsError('ENAMETOOLONG', `the name is longer than ${NAME_MAX} bytes`, { path })
  const reason = badNameReason(name)
  if (reason !== undefined) throw new NsfsError('EINVAL', reason, { path })
}
