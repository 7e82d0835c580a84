import t from 'tap'
import { makeOps } from '../src/fuse/ops.js'
import { NsfsError } from '../src/errors.js'
import type { Vfs } from '../src/vfs/vfs.js'

const logged: string[] = []
const vfs = {
  getattr: (path: string) => { if (path === '/') return { mode: 0o40755 }; throw new NsfsError('ENOENT', 'no such namespace entry', { path }) },
  readdir: () => ['user'],
  readdirModes: () => [0o120000],
  readlink: () => { throw new Error('boom') },
  statfs: () => ({ files: 3 }),
  rename: (src: string, dest: string) => { if (dest !== '/web') throw new NsfsError('EXDEV', 'stays in its directory', { path: src }) },
} as unknown as Vfs
const ops = makeOps(vfs, (level, msg) => logged.push(`${level}: ${msg}`))

function call (op: string, ...args: unknown[]): Promise<unknown[]> {
  return new Promise(resolve => {
    const fn = ops[op]
    if (fn === undefined) throw new Error(`no op ${op}`)
    fn(...args, (...res: unknown[]) => resolve(res))
  })
}

t.test('answers and errno mapping', async t => {
  t.same(await call('getattr', '/'), [0, { mode: 0o40755 }])
  t.same(await call('getattr', '/x'), [-2], 'ENOENT')
  t.same(await call('readdir', '/'), [0, ['user'], [{ mode: 0o120000 }]], 'names with their types')
  t.same(await call('statfs', '/'), [0, { files: 3 }])
  t.same(await call('readlink', '/x'), [-5], 'the unexpected is EIO')
  t.match(logged.join('\n'), /error: readlink \/x: unexpected Error: boom/, 'and logged with its context')
  t.same(await call('getxattr', '/', 'user.x', 0), [-38], 'ENOSYS: the kernel stops asking')
  t.same(await call('listxattr', '/'), [-38])
  t.same(await call('rename', '/net-1', '/web'), [0, undefined], 'rename goes to the vfs')
  t.same(await call('rename', '/net-1', '/user-2/web'), [-18], 'and its refusal to the caller')
})

t.test('every mutation is refused explicitly', async t => {
  for (const op of ['create', 'mknod', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'write', 'truncate', 'ftruncate', 'setxattr', 'removexattr']) {
    t.same(await call(op, '/a', '/b'), [-30], `${op} → EROFS`)
  }
  for (const op of ['chmod', 'chown', 'utimens']) t.same(await call(op, '/a', 0), [-1], `${op} → EPERM`)
})
