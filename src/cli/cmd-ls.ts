// `nsfs ls [PATH]`: the namespaces of the tree with their metadata, from a
// discovery pass of its own (no daemon needed), in columns that `lsns` users
// know, as JSON, or as a tree.
import fs from 'node:fs'
import path from 'node:path'
import { namingSeed } from '../daemon/seed.js'
import { DEFAULTS } from '../daemon/settings.js'
import { kernelDiscoverer } from '../discover/pipeline.js'
import { NsfsError } from '../errors.js'
import { nsfsMountpoints } from '../kernel/mountinfo.js'
import { readBootId, readCommand, readProcessUid } from '../kernel/procfs.js'
import { ContainerFinder } from '../containers/container-finder.js'
import type { ContainerRef, ContainerSet } from '../model/containers.js'
import { InoIndex } from '../model/ino-index.js'
import { allMetadata, METADATA_FILE, type DirMetadata, type NsMetadata } from '../model/metadata.js'
import type { Overlay } from '../model/overlay.js'
import { TreeBuilder } from '../model/tree.js'
import { readOverlayFile, STATE_FILE } from '../store/overlay-store.js'
import { lookup, type Tree } from '../model/tree-node.js'
import { parseCommandLine, usageError, type Command } from './command.js'

const PROC = DEFAULTS.procRoot

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list namespaces with their holders and metadata (like lsns)',
  usage: `usage: nsfs ls [PATH] [OPTIONS]

Lists every namespace in the tree at PATH (default: all), from a discovery
pass of its own; no mounted daemon is needed. PATH is a path inside a mounted
nsfs tree (e.g. /run/nsfs/user-…/net-…) or a path relative to the tree's root
(e.g. user-…/net-…). Columns:
  NS      inode number (what lsns shows)     NAME   name from \`ip netns add\`
  TYPE    namespace type                     FOUND  how it was found:
  NPROCS  processes in it                      task, thread, fd, mount,
  PID     lowest pid in it (or holding it)     parent, listns
  USER    owner of that pid                  PATH   its path in the tree (-: not shown)
  COMMAND that pid's command line            CONTAINER  the running containers whose
                                               init is in it (their names under
                                               MOUNT/containers; 3, then +N)

options:
  --json         print {"namespaces": [...]} with every metadata field
  --tree         print the tree, one namespace per line, indented
  --seed HEX     the seed the daemon was started with (default: derived from
                 the boot id under the secret in --state-dir)
  --state-dir DIR  the daemon's state directory (default ${DEFAULTS.stateDir}),
                 whose name table gives the names chosen with mv
  -h, --help     show this text

exit status: 0 on success, 1 on any error (e.g. PATH not in the tree), 2 on bad usage.
`,
  run: async argv => {
    const line = parseCommandLine(lsCommand, argv, {
      json: { type: 'boolean' },
      tree: { type: 'boolean' },
      seed: { type: 'string' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, { max: 1, what: 'one path' })
    if ('exit' in line) return line.exit
    const { values, positionals } = line
    if (values.json === true && values.tree === true) return usageError(lsCommand, '--json and --tree exclude each other')
    const mounts = nsfsMountpoints()
    const arg = positionals[0] ?? '/'
    const treePath = toTreePath(arg, mounts)
    let records: NsMetadata[]
    if (process.geteuid?.() === 0) {
      const stateDir = values['state-dir'] ?? DEFAULTS.stateDir
      const bootId = readBootId(PROC)
      const seed = namingSeed({ seedHex: values.seed, stateDir, bootId })
      const discovery = kernelDiscoverer({ procRoot: PROC, pid: process.pid }).run()
      const inos = new InoIndex()
      inos.apply(undefined, { ...discovery, upserted: [...discovery.namespaces.values()], removed: [] })
      const { containers } = new ContainerFinder(PROC).find(discovery, (type, ino) => inos.keyOf(type, ino), 'all')
      records = select(new TreeBuilder(seed).build(discovery, chosenNames(stateDir, bootId)), treePath, containers)
    } else {
      // Not root: what the mount shows this caller, nothing more.
      const mp = mounts.find(m => arg === m || arg.startsWith(`${m}/`)) ?? mounts.find(m => m === DEFAULTS.mountpoint) ?? mounts[0]
      if (mp === undefined) throw new NsfsError('ENOENT', 'not root, and no nsfs tree is mounted to ask', { path: arg })
      records = selectRecords(readMounted(mp), treePath)
    }
    const rows = records.map(withProcess)
    // `nsfs ls | head` closes the pipe early: that is the reader's choice.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
      process.exit(0)
    })
    process.stdout.write(values.json === true ? asJson(rows) : values.tree === true ? asTree(rows) : asTable(rows))
    return 0
  },
}

// The names given with mv (or imported), as the daemon keeps them: a rename
// is saved before it is answered, so the file is current.
function chosenNames (stateDir: string, bootId: string): Overlay {
  const file = path.join(stateDir, STATE_FILE)
  try {
    const table = readOverlayFile(file)
    return table?.bootId === bootId ? table.names : new Map()
  } catch (err) {
    process.stderr.write(`nsfs: warning: default names only: cannot read the name table ${file}: ${err instanceof Error ? err.message : String(err)}\n`)
    return new Map()
  }
}

// A PATH inside a mounted tree, or relative to the tree's root, as a tree
// path ('/user-…/net-…'). Nothing under the mount is touched.
export function toTreePath (arg: string, mountpoints: readonly string[]): string {
  const clean = (p: string): string => `/${p.split('/').filter(s => s !== '' && s !== '.').join('/')}`
  for (const mp of mountpoints) {
    if (arg === mp) return '/'
    if (arg.startsWith(mp.endsWith('/') ? mp : `${mp}/`)) return clean(arg.slice(mp.length))
  }
  return clean(arg)
}

// The namespaces at and under `treePath`: one entry, or a directory's whole
// subtree (including the namespaces it leaves out for want of a handle).
export function select (tree: Tree, treePath: string, containers?: ContainerSet): NsMetadata[] {
  if (lookup(tree, treePath) === undefined) throw new NsfsError('ENOENT', 'no such namespace in the tree', { path: treePath })
  return selectRecords(allMetadata(tree, undefined, containers), treePath)
}

export function selectRecords (all: readonly NsMetadata[], treePath: string): NsMetadata[] {
  const at = all.find(m => m.path === treePath)
  if (at !== undefined && at.type !== 'user') return [at]
  if (at === undefined && treePath !== '/') throw new NsfsError('ENOENT', 'no such namespace in the tree', { path: treePath })
  const under = (p: string | null): boolean => p !== null && (treePath === '/' || p === treePath || p.startsWith(`${treePath}/`))
  return all.filter(m => under(m.path) || (m.path === null && under(m.ownerPath ?? '/')))
}

// Every record a mounted tree shows its reader, from the .nsfs.json of each
// directory it may reach.
export function readMounted (mp: string): NsMetadata[] {
  const out: NsMetadata[] = []
  const seen = new Set<string>()
  const visit = (treePath: string): void => {
    const file = path.join(mp, treePath, METADATA_FILE)
    let doc: DirMetadata
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8')) as DirMetadata
    } catch (err) {
      // A directory whose namespace died since its parent was read.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && treePath !== '/') return
      throw new NsfsError('EIO', 'cannot read the tree\'s metadata', { path: file, cause: err })
    }
    if (treePath === '/' && doc.directory !== null) out.push(doc.directory)
    for (const m of doc.entries) {
      if (seen.has(m.key)) continue
      seen.add(m.key)
      out.push(m)
    }
    // Subdirectories, passages too (shown for what lies below them).
    for (const name of fs.readdirSync(path.join(mp, treePath))) {
      const child = treePath === '/' ? `/${name}` : `${treePath}/${name}`
      try {
        if (fs.lstatSync(path.join(mp, child)).isDirectory()) visit(child)
      } catch { /* gone since the listing */ }
    }
  }
  visit('/')
  return out
}

export interface Row extends NsMetadata {
  ns: number
  nprocs: number
  pid: number | null
  user: string | null
  command: string | null
}

let users: Map<number, string> | undefined
function userName (uid: number): string {
  if (users === undefined) {
    users = new Map()
    try {
      for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':')
        if (name !== undefined && id !== undefined && id !== '') users.set(Number(id), name)
      }
    } catch { /* no passwd file: numeric uids */ }
  }
  return users.get(uid) ?? String(uid)
}

function withProcess (m: NsMetadata): Row {
  const pid = m.pids.length > 0 ? Math.min(...m.pids) : null
  const uid = pid === null ? undefined : readProcessUid(PROC, pid)
  return {
    ns: m.ino,
    nprocs: m.pids.length,
    pid,
    user: uid === undefined ? null : userName(uid),
    // One line per namespace, whatever a command line holds.
    command: pid === null ? null : readCommand(PROC, pid)?.replace(/[\x00-\x1f\x7f]+/g, ' ').trim() ?? null,
    ...m,
  }
}

function asJson (rows: readonly Row[]): string {
  return `${JSON.stringify({ namespaces: rows }, null, 2)}\n`
}

function asTable (rows: readonly Row[]): string {
  const head = ['NS', 'TYPE', 'NPROCS', 'PID', 'USER', 'NAME', 'CONTAINER', 'FOUND', 'PATH', 'COMMAND']
  const cells = rows.map(r => [
    String(r.ns), r.type, String(r.nprocs), r.pid === null ? '-' : String(r.pid), r.user ?? '-',
    r.netns.length > 0 ? r.netns.join(',') : '-', containerCell(r.containers), r.foundBy.join(','), r.path ?? '-', r.command ?? '-',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => (c[i] ?? '').length)))
  const line = (c: string[]): string => c.map((s, i) => i === c.length - 1 ? s : s.padEnd(widths[i] ?? 0)).join(' ').trimEnd()
  return `${[head, ...cells].map(line).join('\n')}\n`
}

// A container by its directory's name; a namespace every container shares
// (the host's cgroup or time namespace) names three and counts the rest.
function containerCell (refs: readonly ContainerRef[] | undefined): string {
  if (refs === undefined || refs.length === 0) return '-'
  const names = refs.map(c => c.path.slice(c.path.lastIndexOf('/') + 1))
  return names.length <= 3 ? names.join(',') : `${names.slice(0, 3).join(',')},+${names.length - 3}`
}

function asTree (rows: readonly Row[]): string {
  return rows.map(r => {
    const p = r.path ?? `${r.ownerPath ?? ''}/(${r.type}, no handle)`
    const depth = p.split('/').filter(s => s !== '').length
    const name = p === '/' ? '/' : p.slice(p.lastIndexOf('/') + 1) + (r.type === 'user' ? '/' : '')
    const extra = [`${r.type}:[${r.ns}]`, r.foundBy.join(','), r.netns.length > 0 ? `netns ${r.netns.join(',')}` : '', r.pid !== null ? `pid ${r.pid} ${r.command ?? ''}` : '']
    return `${'  '.repeat(depth)}${name}  ${extra.filter(s => s !== '').join('  ')}`.trimEnd()
  }).join('\n') + '\n'
}
