// One error class for everything nsfs reports: an errno code, the path it
// concerns and, where there is one, the underlying cause. It carries no
// stack: it is an answer, not a fault (its message, code and path say what
// happened), and a FUSE lookup of a missing name raises one on the request
// path, where capturing a stack cost more than the rest of the request.

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EIO: 5,
  EBADF: 9,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOTTY: 25,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  ENOTCONN: 107,
} as const

export type ErrnoCode = keyof typeof ERRNO

export function isErrnoCode (s: unknown): s is ErrnoCode {
  return typeof s === 'string' && Object.hasOwn(ERRNO, s)
}

export class NsfsError extends Error {
  readonly code: ErrnoCode
  readonly path: string | undefined
  readonly syscall: string | undefined

  constructor (code: ErrnoCode, message: string, opts: { path?: string, syscall?: string, cause?: unknown } = {}) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(opts.path !== undefined ? `${message}: ${opts.path}` : message, { cause: opts.cause })
    Error.stackTraceLimit = limit
    this.name = 'NsfsError'
    this.code = code
    this.path = opts.path
    this.syscall = opts.syscall
  }

  get errno (): number {
    return ERRNO[this.code]
  }
}

// The errno code of any thrown value: ours, Node's, or EIO for the unknown.
export function errnoCodeOf (err: unknown): ErrnoCode {
  if (err instanceof NsfsError) return err.code
  const code = (err as { code?: unknown } | null)?.code
  return isErrnoCode(code) ? code : 'EIO'
}
