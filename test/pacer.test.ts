// Pacer: asks fold into one run per gap, the last ask is always honoured,
// and the gap follows what the last run cost.
import t from 'tap'
import { Pacer } from '../src/pacer.js'

const tick = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

t.test('runs at once after a quiet spell, then once per gap however often asked', async t => {
  let runs = 0
  const p = new Pacer(() => { runs++ }, () => 40)
  p.ask()
  t.equal(runs, 1, 'the first ask runs at once')
  for (let i = 0; i < 10; i++) p.ask()
  t.equal(runs, 1, 'asks within the gap wait')
  await tick(60)
  t.equal(runs, 2, 'and fold into one run at its end')
  await tick(60)
  t.equal(runs, 2, 'nothing more when nobody asked')
  p.ask()
  t.equal(runs, 3, 'after the gap, at once again')
  p.stop()
})

t.test('askIn: not before the time asked, nor before the gap; the earlier of two asks wins', async t => {
  let clock = 0
  const ran: number[] = []
  const p = new Pacer(() => { ran.push(clock) }, () => 10, () => clock)
  p.askIn(5)
  t.same(ran, [], 'not yet')
  await tick(20)
  t.same(ran, [0], 'the timer fired (the fake clock stood still)')
  clock = 100
  p.askIn(50)
  p.askIn(30)
  p.askIn(70)
  await tick(45)
  t.same(ran, [0, 100], 'one run, from the earliest ask')
  p.stop()
})

t.test('the gap grows with the cost of the last run; an ask during a run comes after it', async t => {
  let clock = 0
  let runs = 0
  const p = new Pacer(() => {
    runs++
    clock += 5
    if (runs === 1) p.ask()
  }, lastMs => 3 * lastMs, () => clock)
  p.ask()
  t.equal(runs, 1, 'the ask made while running did not run inside it')
  await tick(30)
  t.equal(runs, 2, 'it ran after the gap')
  p.stop()
  p.ask()
  t.equal(runs, 2, 'a stopped pacer runs nothing')
})

t.test('a run that throws still counts as run', async t => {
  let runs = 0
  const p = new Pacer(() => { runs++; throw new Error('boom') }, () => 1000)
  t.throws(() => p.ask(), /boom/)
  p.ask()
  t.equal(runs, 1, 'the gap holds after a failure')
  p.stop()
})
