// The part of fuse-native 2.2.6 we use (it ships no types).
declare module 'fuse-native' {
  type Cb<T extends unknown[] = []> = (err: number, ...rest: T) => void
  export interface FuseOps {
    init?: (cb: Cb) => void
    getattr?: (path: string, cb: Cb<[unknown?]>) => void
    readdir?: (path: string, cb: Cb<[string[]?, unknown[]?]>) => void
    readlink?: (path: string, cb: Cb<[string?]>) => void
    statfs?: (path: string, cb: Cb<[unknown?]>) => void
    [op: string]: ((...args: any[]) => void) | undefined
  }
  export interface FuseOptions {
    force?: boolean
    mkdir?: boolean
    timeout?: number | false
    debug?: boolean
    allowOther?: boolean
    defaultPermissions?: boolean
    fsname?: string
    subtype?: string
    entryTimeout?: string
    attrTimeout?: string
  }
  export default class Fuse {
    constructor (mnt: string, ops: FuseOps, opts?: FuseOptions)
    mount (cb: (err: Error | null) => void): void
    unmount (cb: (err: Error | null) => void): void
    static unmount (mnt: string, cb: (err: Error | null) => void): void
  }
}
