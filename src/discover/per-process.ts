// A per-process source kept in step with the task watch: a process's
// answer is re-read only when the task watch re-read that process (new,
// young, or its turn in the sweep) and dropped when it is gone, so fds and
// *_for_children links cost what the incremental task scan costs.
import type { Sighting } from './found.js'

export class PerProcess {
  private readonly byPid = new Map<number, readonly Sighting[]>()

  constructor (private readonly read: (pid: number) => Sighting[]) {}

  // `none`: processes known to hold nothing here, without a read (a pid
  // reused by one of them says nothing of the process before).
  update (reread: Iterable<number>, isLive: (pid: number) => boolean, none: Iterable<number> = []): void {
    for (const pid of this.byPid.keys()) if (!isLive(pid)) this.byPid.delete(pid)
    for (const pid of none) this.byPid.delete(pid)
    for (const pid of reread) {
      // Gone since (its exit is why it was read): nothing to read.
      const found = isLive(pid) ? this.read(pid) : []
      if (found.length > 0) this.byPid.set(pid, found)
      else this.byPid.delete(pid)
    }
  }

  // Whether `pid` had any sighting when last read.
  has (pid: number): boolean {
    return this.byPid.has(pid)
  }

  * sightings (): Iterable<Sighting> {
    for (const list of this.byPid.values()) yield * list
  }
}
