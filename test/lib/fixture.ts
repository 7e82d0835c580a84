// A fake procfs tree in a temp dir, for discovery sources that take the
// procfs root as a parameter: ns links and fds are symlinks whose text is
// what the kernel's readlink would say (`net:[4026532000]`).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface FakeTask {
  pid: number
  tid?: number
  start: number
  ns?: Record<string, number>
  fds?: Record<number, string>
  mountinfo?: string
}

export class FakeProc {
  readonly root: string

  constructor (t: { teardown: (fn: () => void) => void }) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-fakeproc-'))
    t.teardown(() => fs.rmSync(this.root, { recursive: true, force: true }))
    // Seconds since boot, for the task scanner's notion of a young process.
    fs.writeFileSync(path.join(this.root, 'uptime'), '1000.00 0.00\n')
  }

  add (task: FakeTask): this {
    const tid = task.tid ?? task.pid
    const taskDir = path.join(this.root, String(task.pid), 'task', String(tid))
    fs.mkdirSync(path.join(taskDir, 'ns'), { recursive: true })
    fs.writeFileSync(path.join(taskDir, 'stat'), `${tid} (fake task) S ${Array.from({ length: 18 }, () => '0').join(' ')} ${task.start} 0 0\n`)
    for (const [type, ino] of Object.entries(task.ns ?? {})) {
      fs.symlinkSync(`${type}:[${ino}]`, path.join(taskDir, 'ns', type))
      if (tid === task.pid) {
        fs.mkdirSync(path.join(this.root, String(task.pid), 'ns'), { recursive: true })
        fs.symlinkSync(`${type}:[${ino}]`, path.join(this.root, String(task.pid), 'ns', type))
      }
    }
    if (task.fds !== undefined) {
      const fdDir = path.join(this.root, String(task.pid), 'fd')
      fs.mkdirSync(fdDir, { recursive: true })
      for (const [fd, target] of Object.entries(task.fds)) fs.symlinkSync(target, path.join(fdDir, fd))
    }
    if (task.mountinfo !== undefined) {
      const where = tid === task.pid ? path.join(this.root, String(task.pid)) : taskDir
      fs.writeFileSync(path.join(where, 'mountinfo'), task.mountinfo)
    }
    return this
  }

  // The process exits: its whole /proc/PID goes.
  remove (pid: number): void {
    fs.rmSync(path.join(this.root, String(pid)), { recursive: true, force: true })
  }
}
