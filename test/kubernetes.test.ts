// The DaemonSet manifest, validated offline against the Kubernetes OpenAPI
// schema (kubernetes-models' generated validators), and checked for what
// nsfs needs on every node.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet'
import { ROOT } from './lib/harness.js'

const FILE = path.join(ROOT, 'mount/kubernetes/daemonset.yaml')

function load (text: string): IDaemonSet {
  const docs = parseAllDocuments(text)
  if (docs.length !== 1) throw new Error(`one document expected, got ${docs.length}`)
  const [doc] = docs
  if (doc === undefined || doc.errors.length > 0) throw new Error(`YAML: ${doc?.errors.map(e => e.message).join('; ') ?? 'empty'}`)
  return doc.toJS() as IDaemonSet
}

t.test('the manifest is a valid apps/v1 DaemonSet', async t => {
  const ds = load(fs.readFileSync(FILE, 'utf8'))
  t.equal(ds.apiVersion, 'apps/v1')
  t.equal(ds.kind, 'DaemonSet')
  t.doesNotThrow(() => new DaemonSet(ds).validate(), 'schema-valid')

  const pod = ds.spec?.template.spec
  t.same(ds.spec?.selector.matchLabels, ds.spec?.template.metadata?.labels, 'the selector matches the pod labels')
  t.equal(pod?.hostPID, true, 'hostPID: sees every process of the node')
  const [c] = pod?.containers ?? []
  t.equal(c?.securityContext?.privileged, true, 'privileged')
  const run = c?.volumeMounts?.find(m => m.mountPath === '/run/nsfs')
  t.equal(run?.mountPropagation, 'Bidirectional', 'the FUSE mount propagates to the node')
  const runVol = pod?.volumes?.find(v => v.name === run?.name)
  t.equal(runVol?.hostPath?.path, '/run/nsfs', 'from the node\'s /run/nsfs')
  const fuse = c?.volumeMounts?.find(m => m.mountPath === '/dev/fuse')
  t.match(pod?.volumes?.find(v => v.name === fuse?.name)?.hostPath, { path: '/dev/fuse', type: 'CharDevice' })
  t.same(c?.args?.slice(0, 3), ['mount', '/run/nsfs', '--foreground'], 'serves in the foreground, as a container should')
  t.same(pod?.tolerations, [{ operator: 'Exists' }], 'on every node, tainted ones too')
})

t.test('the schema check can fail', async t => {
  const text = fs.readFileSync(FILE, 'utf8')
  const cases: Array<[string, string, RegExp]> = [
    ['hostPID: true', 'hostPID: "yes"', /hostPID must be boolean/],
    ['mountPropagation: Bidirectional', 'mountPropagation: Both', /mountPropagation must be equal to one of the allowed values/],
    ['mountPath: /dev/fuse', 'readOnly: false', /must have required property mountPath/],
  ]
  for (const [from, to, msg] of cases) {
    t.ok(text.includes(from), `the manifest has ${from}`)
    t.throws(() => new DaemonSet(load(text.replace(from, to))).validate(), msg, `${from} → ${to}`)
  }
})
