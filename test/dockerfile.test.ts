// The container image without a docker engine: the Dockerfile is linted by
// dockerfile-utils (the linter of the VS Code Docker language server), then
// its stages are played in scratch directories — COPY copies, the npm steps
// run, the apt packages are checked to exist in Debian — and the runtime
// stage's result must start and hold production dependencies only.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Copy, DockerfileParser } from 'dockerfile-ast'
import { validate } from 'dockerfile-utils'
import { ROOT } from './lib/harness.js'

t.setTimeout(600_000)
const TEXT = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')

t.test('the Dockerfile lints clean', async t => {
  t.same(validate(TEXT).map(d => `${d.range.start.line + 1}: ${d.message}`), [], 'no diagnostics')
  // The linter does find faults: a broken copy is flagged.
  const broken = TEXT.replace('COPY --from=build /src/dist ./dist', 'COPY --from=build').replace('STOPSIGNAL SIGTERM', 'STOPSIGNAL')
  t.ok(validate(broken).length >= 2, 'a broken copy has diagnostics')
})

interface Stage { name: string | null, image: string, root: string, workdir: string, user: string | undefined }

t.test('its stages, played in scratch directories', async t => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-image-'))
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))
  const stages: Stage[] = []
  const skipped: string[] = []
  let entrypoint: string[] = []
  const inRoot = (st: Stage, p: string): string => path.join(st.root, path.resolve(st.workdir, p))

  for (const ins of DockerfileParser.parse(TEXT).getInstructions()) {
    const kw = ins.getKeyword()
    const args = ins.getArguments().map(a => a.getValue())
    const st = stages.at(-1)
    if (kw === 'FROM') {
      const [image, as, name] = args
      if (image === undefined) throw new Error('FROM without an image')
      const root = path.join(scratch, `stage${stages.length}`)
      fs.mkdirSync(root)
      stages.push({ name: as?.toUpperCase() === 'AS' ? name ?? null : null, image, root, workdir: '/', user: undefined })
      continue
    }
    if (st === undefined) throw new Error(`${kw} before FROM`)
    switch (kw) {
      case 'WORKDIR':
        st.workdir = path.resolve(st.workdir, args[0] ?? '/')
        fs.mkdirSync(inRoot(st, '.'), { recursive: true })
        break
      case 'COPY': {
        const from = ins instanceof Copy ? ins.getFromFlag()?.getValue() : undefined
        const plain = args
        const dest = plain.at(-1) as string
        const srcRoot = from === undefined ? ROOT : stages.find(s => s.name === from)?.root
        if (srcRoot === undefined) throw new Error(`COPY --from=${from}: no such stage`)
        for (const src of plain.slice(0, -1)) {
          const source = path.join(srcRoot, src)
          const target = dest.endsWith('/') && !fs.statSync(source).isDirectory() ? path.join(inRoot(st, dest), path.basename(src)) : inRoot(st, dest)
          fs.mkdirSync(path.dirname(target), { recursive: true })
          fs.cpSync(source, target, { recursive: true })
        }
        break
      }
      case 'RUN':
        for (const step of (ins.getArgumentsContent() ?? '').split('&&').map(s => s.replace(/\s+/g, ' ').trim())) {
          if (step === 'npm cache clean --force') {
            skipped.push(step) // would empty this machine's npm cache, not an image's
          } else if (/^(npm|npx) /.test(step)) {
            const r = spawnSync('bash', ['-c', step], { cwd: inRoot(st, '.'), encoding: 'utf8', timeout: 300_000 })
            t.equal(r.status, 0, `${st.name ?? 'runtime'}: ${step}\n${r.stderr}`)
          } else if (step.startsWith('apt-get install ')) {
            for (const pkg of step.split(' ').slice(2).filter(w => !w.startsWith('-'))) {
              t.equal(spawnSync('apt-cache', ['show', pkg], { stdio: 'ignore' }).status, 0, `Debian has ${pkg}`)
            }
          } else if (step === 'apt-get update' || step === 'rm -rf /var/lib/apt/lists/*') {
            skipped.push(step)
          } else {
            t.fail(`a RUN step this test does not know how to play: ${step}`)
          }
        }
        break
      case 'USER': st.user = args[0]; break
      case 'ENTRYPOINT': entrypoint = JSON.parse(ins.getArgumentsContent() ?? '[]') as string[]; break
      case 'CMD': case 'STOPSIGNAL': break
      default: t.fail(`an instruction this test does not know: ${kw}`)
    }
  }

  t.equal(stages.length, 2, 'multi-stage: build and runtime')
  const runtime = stages.at(-1) as Stage
  t.equal(runtime.image, 'node:20-bookworm-slim', 'slim runtime')
  t.ok(runtime.user === undefined || runtime.user === 'root', 'runs as root')
  t.same(skipped.sort(), ['npm cache clean --force'])

  const app = path.join(runtime.root, 'usr/lib/nsfs')
  const modules = fs.readdirSync(path.join(app, 'node_modules'))
  for (const dep of ['koffi', 'lru-cache', 'uuid']) t.ok(modules.includes(dep), `has ${dep}`)
  for (const dev of ['typescript', 'tap', '@types', 'dockerfile-utils', 'kubernetes-models']) t.notOk(modules.includes(dev), `no ${dev}`)
  t.notOk(fs.existsSync(path.join(app, 'src')), 'no sources in the runtime')

  t.same(entrypoint.slice(0, 1), ['node'])
  const main = path.join(runtime.root, entrypoint[1] ?? '')
  const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0, help.stderr)
  t.match(help.stdout, /^usage: nsfs <command>/)
  const mountHelp = spawnSync(process.execPath, [main, 'mount', '--help'], { encoding: 'utf8' })
  t.match(mountHelp.stdout, /--foreground/, 'the image\'s CMD uses an option that exists')
})
