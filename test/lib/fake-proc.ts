// A procfs fixture: /PID/task/TID/{stat,ns/TYPE} as plain files and symlinks.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface FakeTask { pid: number, tid?: number, start: number, ns: Record<string, number>, comm?: string }

export class FakeProc {
  readonly root: string
  constructor (t: { teardown: (fn: () => void) => void }) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'nsfs-fakeproc-'))
    t.teardown(() => fs.rmSync(this.root, { recursive: true, force: true }))
  }

  add (task: FakeTask): void {
    const tid = task.tid ?? task.pid
    const dir = path.join(this.root, String(task.pid), 'task', String(tid))
    fs.mkdirSync(path.join(dir, 'ns'), { recursive: true })
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3))
    fields[19] = String(task.start)
    fs.writeFileSync(path.join(dir, 'stat'), `${tid} (${task.comm ?? 'a (b) c'}) S ${fields.slice(1).join(' ')}\n`)
    for (const [type, ino] of Object.entries(task.ns)) fs.symlinkSync(`${type}:[${ino}]`, path.join(dir, 'ns', type))
    if (tid === task.pid) {
      const nsDir = path.join(this.root, String(task.pid), 'ns')
      if (!fs.existsSync(nsDir)) fs.symlinkSync(`task/${tid}/ns`, nsDir)
    }
  }

  remove (pid: number): void {
    fs.rmSync(path.join(this.root, String(pid)), { recursive: true, force: true })
  }
}
