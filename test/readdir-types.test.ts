// readdir gives the kernel each entry's file type (d_type), so `find` and
// Node's Dirent need no lstat per entry.
import t from 'tap'
import fs from 'node:fs'
import { kernelSkipReason, startDaemon, startHolder, tempDir } from './lib/harness.js'

t.test('dirents carry their types', { skip: kernelSkipReason() }, async t => {
  const mnt = tempDir(t)
  await startHolder(t, ['unshare', '--user', '--map-root-user', '--uts'])
  await startDaemon(t, mnt)
  const dirents = fs.readdirSync(mnt, { withFileTypes: true })
  const self = dirents.find(d => d.name === 'user')
  t.ok(self?.isSymbolicLink(), '`user` is a symlink without an lstat')
  const child = dirents.find(d => d.name.startsWith('user-'))
  t.ok(child?.isDirectory(), 'a child user namespace is a directory without an lstat')
  t.ok(dirents.find(d => d.name === '.nsfs.json')?.isFile(), 'the metadata file is a regular file')
  for (const d of dirents) t.ok(d.isSymbolicLink() || d.isDirectory() || d.isFile(), `${d.name} has a known type`)
})
