import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { forChildrenOnly, readProcForChildren } from '../src/discover/from-children.js'
import type { Found } from '../src/discover/found.js'
import { FakeProc } from './lib/fixture.js'
import type { InoKey } from '../src/model/namespace.js'

const ik = (s: string): InoKey => s as InoKey

t.test('pid and time namespaces for future children, when no task is in them', async t => {
  const proc = new FakeProc(t)
    .add({ pid: 10, start: 100, ns: { pid: 1, time: 2 } })
    .add({ pid: 20, start: 200, ns: { pid: 1, time: 2 } })
    .add({ pid: 30, start: 300, ns: { pid: 1, time: 2 } })
  const link = (pid: number, name: string, text: string): void => fs.symlinkSync(text, path.join(proc.root, String(pid), 'task', String(pid), 'ns', name))
  link(10, 'time_for_children', 'time:[2]')
  link(10, 'pid_for_children', 'pid:[1]')
  link(20, 'time_for_children', 'time:[5]')
  link(30, 'pid_for_children', 'pid:[6]')
  link(30, 'time_for_children', 'net:[7]')
  const tasks: Found = new Map([
    [ik('pid:1'), { type: 'pid', ino: 1, holders: [] }],
    [ik('time:2'), { type: 'time', ino: 2, holders: [] }],
  ])
  const found = forChildrenOnly([10, 20, 30].flatMap(pid => readProcForChildren(proc.root, pid)), tasks)
  t.same([...found.keys()].sort(), ['pid:6', 'time:5'], 'only those no task is in; a wrong type is ignored')
  t.same(found.get(ik('time:5'))?.holders, [{ kind: 'for-children', pid: 20, start: 200 }])
  t.same(readProcForChildren(proc.root, 10), [], 'in those namespaces itself: left to the task source')
  // What the task source read this pass stands for the process's own links.
  t.same(readProcForChildren(proc.root, 20, type => type === 'time' ? 5 : undefined), [], 'its own time namespace, as the task source just read it')
  t.same(readProcForChildren(proc.root, 10, type => type === 'time' ? 9 : undefined).map(s => s.ino), [2], 'the task source says it moved on')
})
