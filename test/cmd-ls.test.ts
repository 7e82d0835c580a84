import t from 'tap'
import { toTreePath } from '../src/cli/cmd-ls.js'

t.test('PATH: inside a mounted tree, or relative to its root', async t => {
  const mps = ['/run/nsfs/inner', '/run/nsfs', '/tmp/x/']
  t.equal(toTreePath('/run/nsfs', mps), '/')
  t.equal(toTreePath('/run/nsfs/user-0123456789ab/net-0123456789ab', mps), '/user-0123456789ab/net-0123456789ab')
  t.equal(toTreePath('/run/nsfs/inner/net-0123456789ab', mps), '/net-0123456789ab', 'the innermost mount wins')
  t.equal(toTreePath('/tmp/x/user-0123456789ab/', mps), '/user-0123456789ab')
  t.equal(toTreePath('user-0123456789ab/./net-0123456789ab', mps), '/user-0123456789ab/net-0123456789ab', 'tree-relative')
  t.equal(toTreePath('/run/nsfsX/net-1', mps), '/run/nsfsX/net-1', 'only whole path components match a mountpoint')
  t.equal(toTreePath('/', []), '/')
})
