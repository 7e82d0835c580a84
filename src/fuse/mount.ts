// The only module that knows fuse-native. It is unmaintained, so everything
// it needs from us and every sharp edge it has stays behind this file.
import Fuse from 'fuse-native'
import type { FuseOps } from 'fuse-native'

export interface MountOptions {
  // Seconds the kernel may cache entries and attributes: short, so the tree
  // stays live. fuse-native drops a numeric 0, hence strings.
  cacheSeconds: string
  debug: boolean
}

export interface Mounted {
  unmount: () => Promise<void>
}

export async function mountFuse (mountpoint: string, ops: FuseOps, opts: MountOptions): Promise<Mounted> {
  const fuse = new Fuse(mountpoint, ops, {
    fsname: 'nsfs',
    // fuse-native has no option for direct_io, and its options end up in
    // one comma-separated -o list, so it rides along here. direct_io makes
    // the kernel read metadata files from us each time instead of stopping
    // at a size it cached (lxcfs serves its files the same way).
    subtype: 'nsfs,direct_io',
    allowOther: true,
    defaultPermissions: true,
    entryTimeout: opts.cacheSeconds,
    attrTimeout: opts.cacheSeconds,
    // A handler that never answers would hang its caller; ours answer at
    // once, so a short limit only catches our own bugs.
    timeout: 2000,
    debug: opts.debug,
  })
  await new Promise<void>((resolve, reject) => fuse.mount(err => err ? reject(err) : resolve()))
  return {
    unmount: async () => await new Promise<void>((resolve, reject) => fuse.unmount(err => err ? reject(err) : resolve())),
  }
}
