// What each engine calls its containers, read from the state it keeps on
// disk at its default place: no engine's socket is ever asked, so one that
// hangs or is absent delays nothing (an absent one is a missing file).
//   Podman (and CRI-O)  STORAGE/*-containers/containers.json: id → names
//   Docker              /var/lib/docker/containers/ID/config.v2.json: Name
//   containerd, CRI-O   the OCI bundle's config.json: the CRI annotations
//                       (pod namespace, pod, container) or nerdctl's name
//   LXC, nspawn         the cgroup path holds the name itself
import fs from 'node:fs'
import path from 'node:path'
import { LRUCache } from 'lru-cache'
import type { CgroupContainer, ContainerLabel, Engine } from '../model/containers.js'

export interface EngineRoots {
  // containers/storage of root (Podman, CRI-O).
  readonly storage: string
  // Docker's data root.
  readonly docker: string
  // Directories of containerd's runtime v2 tasks: NAMESPACE/ID/config.json.
  readonly containerdTasks: readonly string[]
  // CRI-O's run root: overlay-containers/ID/userdata/config.json.
  readonly crioRun: string
}

export const DEFAULT_ROOTS: EngineRoots = {
  storage: '/var/lib/containers/storage',
  docker: '/var/lib/docker',
  containerdTasks: ['/run/containerd/io.containerd.runtime.v2.task', '/run/docker/containerd/daemon/io.containerd.runtime.v2.task'],
  crioRun: '/run/containers/storage',
}

// A label and the engine that gave it (the cgroup path's engine is a guess
// where Kubernetes paths look alike).
export interface Labelled {
  readonly engine: Engine
  readonly label: ContainerLabel
}

interface Cached<T> {
  readonly mtimeMs: number
  readonly size: number
  readonly value: T
}

export class EngineLabels {
  // Parsed state files, kept while their mtime and size stay; bounded,
  // since containers come and go.
  private readonly files = new LRUCache<string, Cached<unknown>>({ max: 4096 })

  constructor (private readonly roots: EngineRoots = DEFAULT_ROOTS) {}

  // What the engines say about `c`, or null when none says anything.
  labelOf (c: CgroupContainer): Labelled | null {
    switch (c.engine) {
      case 'lxc':
      case 'nspawn':
        return { engine: c.engine, label: { name: c.id } }
      case 'docker':
        return this.docker(c.id) ?? this.bundle(c.id) ?? this.storage(c.id) ?? null
      case 'podman':
      case 'containerd':
      case 'crio':
        return this.bundle(c.id) ?? this.storage(c.id) ?? this.docker(c.id) ?? null
    }
  }

  private docker (id: string): Labelled | undefined {
    const doc = this.json(path.join(this.roots.docker, 'containers', id, 'config.v2.json'))
    const name = field(doc, 'Name')
    return typeof name === 'string' && name !== '' ? { engine: 'docker', label: { name: name.replace(/^\//, '') } } : undefined
  }

  // containers/storage keeps one containers.json per storage driver.
  private storage (id: string): Labelled | undefined {
    let drivers: string[]
    try {
      drivers = fs.readdirSync(this.roots.storage).filter(n => n.endsWith('-containers'))
    } catch {
      return undefined
    }
    for (const d of drivers) {
      const list = this.json(path.join(this.roots.storage, d, 'containers.json'))
      if (!Array.isArray(list)) continue
      const entry: unknown = list.find(e => field(e, 'id') === id)
      const names = field(entry, 'names')
      if (Array.isArray(names) && typeof names[0] === 'string') return { engine: 'podman', label: { name: names[0] } }
    }
    return undefined
  }

  // An OCI bundle's annotations: containerd's CRI plugin, CRI-O, nerdctl.
  private bundle (id: string): Labelled | undefined {
    for (const tasks of this.roots.containerdTasks) {
      let namespaces: string[]
      try {
        namespaces = fs.readdirSync(tasks)
      } catch {
        continue
      }
      for (const ns of namespaces) {
        const label = annotationLabel(field(this.json(path.join(tasks, ns, id, 'config.json')), 'annotations'))
        if (label !== undefined) return { engine: 'containerd', label }
      }
    }
    const label = annotationLabel(field(this.json(path.join(this.roots.crioRun, 'overlay-containers', id, 'userdata', 'config.json')), 'annotations'))
    return label === undefined ? undefined : { engine: 'crio', label }
  }

  // A JSON file, parsed once per version; undefined when absent or not JSON.
  private json (file: string): unknown {
    let st: fs.Stats
    try {
      st = fs.statSync(file)
    } catch {
      this.files.delete(file)
      return undefined
    }
    const cached = this.files.get(file)
    if (cached !== undefined && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached.value
    let value: unknown
    try {
      value = JSON.parse(fs.readFileSync(file, 'utf8'))
    } catch {
      // Being written (engines replace atomically, but not all): next time.
      return undefined
    }
    this.files.set(file, { mtimeMs: st.mtimeMs, size: st.size, value })
    return value
  }
}

function field (o: unknown, name: string): unknown {
  return typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>)[name] : undefined
}

function str (o: unknown, name: string): string | undefined {
  const v = field(o, name)
  return typeof v === 'string' && v !== '' ? v : undefined
}

// The CRI annotations, as containerd (io.kubernetes.cri.*) and CRI-O
// (io.kubernetes.pod.*, io.kubernetes.container.name) write them; a pod's
// sandbox is its `POD`, as kubelet calls it. nerdctl writes its own name.
export function annotationLabel (a: unknown): ContainerLabel | undefined {
  const containerd = {
    type: str(a, 'io.kubernetes.cri.container-type'),
    name: str(a, 'io.kubernetes.cri.container-name'),
    pod: str(a, 'io.kubernetes.cri.sandbox-name'),
    namespace: str(a, 'io.kubernetes.cri.sandbox-namespace'),
  }
  const crio = {
    type: str(a, 'io.kubernetes.cri-o.ContainerType'),
    name: str(a, 'io.kubernetes.container.name'),
    pod: str(a, 'io.kubernetes.pod.name'),
    namespace: str(a, 'io.kubernetes.pod.namespace'),
  }
  for (const k of [containerd, crio]) {
    if (k.pod === undefined || k.namespace === undefined) continue
    const name = k.type === 'sandbox' ? 'POD' : k.name
    if (name !== undefined) return { name, pod: { name: k.pod, namespace: k.namespace } }
  }
  const nerdctl = str(a, 'nerdctl/name')
  return nerdctl === undefined ? undefined : { name: nerdctl }
}
