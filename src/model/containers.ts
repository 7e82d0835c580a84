// Containers, as the tree shows them: which container a process is in (from
// the cgroup path its engine gives it), what the engine calls it, and the
// directory name it gets under MOUNT/containers. Pure: the reading of
// /proc and of the engines' state is in containers/.
import { NAME_MAX } from './name-rules.js'
import { NS_TYPES, type NsKey, type NsType } from './namespace.js'

// The directory at the mount root that holds one directory per container.
export const CONTAINERS_DIR = 'containers'

// Who runs it, as its cgroup path tells.
export type Engine = 'podman' | 'docker' | 'containerd' | 'crio' | 'lxc' | 'nspawn'

// A container a process's cgroup names: its engine and its id (a 64-hex id
// for OCI engines, the machine's or container's name for LXC and nspawn).
export interface CgroupContainer {
  readonly engine: Engine
  readonly id: string
}

// What an engine says about one of its containers. `pod` only under
// Kubernetes (from the CRI annotations of its OCI bundle).
export interface ContainerLabel {
  readonly name: string
  readonly pod?: { readonly name: string, readonly namespace: string }
}

export interface Container extends CgroupContainer {
  // Its engine's name for it; null when the engine told none (absent, or
  // its state unreadable): then it shows by its id.
  readonly label: ContainerLabel | null
  // Its init: the lowest pid in it (in the daemon's pid namespace).
  readonly pid: number
  // The namespaces its init is in, by type, as the tree knows them.
  readonly namespaces: ReadonlyMap<NsType, NsKey>
  // When nsfs first found it (ms since the epoch).
  readonly firstSeen: number
}

// One container as a namespace's metadata lists it.
export interface ContainerRef {
  readonly engine: Engine
  readonly id: string
  readonly name: string | null
  readonly pod?: string
  readonly podNamespace?: string
  // Where it shows: /containers/NAME.
  readonly path: string
}

const HEX64 = '[0-9a-f]{64}'
// Cgroup path components that name a container, most specific first. Docker
// under systemd: docker-ID.scope; under cgroupfs: /docker/ID. Podman:
// libpod-ID(.scope), its conmon in libpod-conmon-ID (not the container).
// containerd's CRI plugin: cri-containerd-ID.scope or a kubepods path
// ending in the ID; CRI-O: crio-ID.scope. LXC 4+: lxc.payload.NAME, older
// /lxc/NAME. systemd-nspawn: machine-NAME.scope (escaped by systemd).
const PATTERNS: ReadonlyArray<{ engine: Engine, re: RegExp }> = [
  { engine: 'podman', re: new RegExp(`(?:^|/)libpod-(${HEX64})(?:\\.scope)?(?:/|$)`) },
  { engine: 'docker', re: new RegExp(`(?:^|/)docker-(${HEX64})\\.scope(?:/|$)`) },
  { engine: 'docker', re: new RegExp(`(?:^|/)docker/(${HEX64})(?:/|$)`) },
  { engine: 'containerd', re: new RegExp(`(?:^|/)cri-containerd-(${HEX64})\\.scope(?:/|$)`) },
  { engine: 'crio', re: new RegExp(`(?:^|/)crio-(${HEX64})\\.scope(?:/|$)`) },
  { engine: 'containerd', re: new RegExp(`(?:^|/)kubepods[^/]*/(?:[^/]+/)*?pod[0-9a-f_-]+/(${HEX64})(?:/|$)`) },
  { engine: 'lxc', re: /(?:^|\/)lxc\.payload\.([^/]+)(?:\/|$)/ },
  { engine: 'lxc', re: /^\/lxc\/([^/]+)(?:\/|$)/ },
  { engine: 'nspawn', re: /(?:^|\/)machine-([^/]+)\.scope(?:\/|$)/ },
]

// The container a /proc/PID/cgroup names, or undefined (a host process).
// The unified line (0::) is asked first; on a v1 host, the name=systemd and
// pids hierarchies carry the same path.
export function cgroupContainer (text: string): CgroupContainer | undefined {
  const paths = text.split('\n').map(line => {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line)
    return m === null ? undefined : { unified: m[1] === '0' && m[2] === '', path: m[3] ?? '' }
  }).filter(x => x !== undefined)
  paths.sort((a, b) => Number(b.unified) - Number(a.unified))
  for (const { path } of paths) {
    for (const { engine, re } of PATTERNS) {
      const m = re.exec(path)
      if (m?.[1] !== undefined) return { engine, id: engine === 'nspawn' ? unescapeSystemd(m[1]) : m[1] }
    }
  }
  return undefined
}

// systemd writes `\x2d` for '-' and the like in unit names.
function unescapeSystemd (s: string): string {
  return s.replace(/\\x([0-9a-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
}

// The name a container's directory gets before any collision: its engine's
// name (for Kubernetes NAMESPACE_POD_CONTAINER, as kubelet names them: '_'
// is in no Kubernetes name), else its id (12 hex digits for an OCI id, as
// `docker ps` shows it).
export function baseName (c: Pick<Container, 'id' | 'label'>): string {
  if (c.label === null) return /^[0-9a-f]{64}$/.test(c.id) ? c.id.slice(0, 12) : c.id
  const { name, pod } = c.label
  return pod === undefined ? name : `${pod.namespace}_${pod.name}_${name}`
}

// A name made a file name, reversibly: '%', '/', control bytes, DEL and
// a leading '.' become %XX (of their UTF-8 bytes), so '.', '..' and
// `.nsfs.json` cannot be taken; too long a name is cut, its last 9 bytes
// replaced by '~' and 8 hex digits of a hash of the whole.
export function escapeName (name: string): string {
  let out = ''
  for (const [i, ch] of [...name].entries()) {
    const code = ch.codePointAt(0) ?? 0
    const escape = ch === '%' || ch === '/' || code < 0x20 || code === 0x7f || (i === 0 && ch === '.')
    out += escape ? [...Buffer.from(ch)].map(b => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('') : ch
  }
  if (out === '') return '%00'
  if (Buffer.byteLength(out) <= NAME_MAX) return out
  let cut = out
  while (Buffer.byteLength(cut) > NAME_MAX - 9) cut = cut.slice(0, -1)
  return `${cut}~${fnv1a(name)}`
}

function fnv1a (s: string): string {
  let h = 0x811c9dc5
  for (const b of Buffer.from(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h.toString(16).padStart(8, '0')
}

// Directory names for a set of containers, stable whatever order they come
// in: the escaped base name, and where two or more share it, each one
// `NAME@ENGINE-ID12` (its engine and the first 12 characters of its id).
export function containerDirs (containers: Iterable<Container>): Map<string, Container> {
  const byBase = new Map<string, Container[]>()
  for (const c of containers) {
    const base = escapeName(baseName(c))
    const list = byBase.get(base)
    if (list === undefined) byBase.set(base, [c])
    else list.push(c)
  }
  const out = new Map<string, Container>()
  for (const base of [...byBase.keys()].sort()) {
    const list = byBase.get(base) ?? []
    if (list.length === 1 && list[0] !== undefined) {
      out.set(base, list[0])
      continue
    }
    for (const c of list.sort((a, b) => a.engine.localeCompare(b.engine) || a.id.localeCompare(b.id))) {
      out.set(escapeName(`${baseName(c)}@${c.engine}-${c.id.slice(0, 12)}`), c)
    }
  }
  return out
}

// The containers of a tree, by directory name, and for each namespace the
// containers whose init is in it.
export class ContainerSet {
  private readonly byNs = new Map<NsKey, ContainerRef[]>()

  constructor (containers: Iterable<Container>, readonly byName: ReadonlyMap<string, Container> = containerDirs(containers)) {
    for (const [name, c] of this.byName) {
      const ref: ContainerRef = {
        engine: c.engine,
        id: c.id,
        name: c.label?.name ?? null,
        ...(c.label?.pod === undefined ? {} : { pod: c.label.pod.name, podNamespace: c.label.pod.namespace }),
        path: `/${CONTAINERS_DIR}/${name}`,
      }
      for (const key of c.namespaces.values()) {
        const list = this.byNs.get(key)
        if (list === undefined) this.byNs.set(key, [ref])
        else list.push(ref)
      }
    }
  }

  // The containers whose init is in namespace `key`, in directory order.
  of (key: NsKey): readonly ContainerRef[] {
    return this.byNs.get(key) ?? []
  }

  // Those `keep` keeps, under the names they have here.
  only (keep: (c: Container) => boolean): ContainerSet {
    return new ContainerSet([], new Map([...this.byName].filter(([, c]) => keep(c))))
  }
}

export const NO_CONTAINERS = new ContainerSet([])

// The namespace types a container directory links, in listing order.
export const CONTAINER_LINKS: readonly NsType[] = NS_TYPES
