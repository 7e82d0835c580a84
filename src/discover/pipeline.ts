// Discovery put together from its kernel parts, in one place for the daemon
// and for `nsfs ls`.
import { NsReader } from '../kernel/describe.js'
import { Listns } from '../kernel/listns.js'
import { DescribeCache } from './describe-cache.js'
import { Discoverer } from './discover.js'
import type { TaskWatchOptions } from './task-watch.js'

export interface PipelineOptions {
  readonly procRoot: string
  // The process discovery runs in: its user namespace is the root of the
  // tree, and its own fds hold nothing.
  readonly pid: number
  readonly tasks?: Partial<TaskWatchOptions>
}

export function kernelDiscoverer (opts: PipelineOptions): Discoverer {
  const reader = new NsReader(`${opts.procRoot}/${opts.pid}/ns/user`)
  return new Discoverer(opts.procRoot, new DescribeCache(reader), opts.pid, Listns.detect(), opts.tasks)
}
