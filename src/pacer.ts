// Work that follows discovery passes but need not follow each one: under a
// churn of hundreds of passes a second, the status file and the search for
// containers would cost more than the passes themselves. A Pacer runs its
// work when asked, but never sooner than `gapMs` after the last run ended
// (which may grow with what that run cost); the asks in between fold into
// one run at the end of the gap, so the last state is always reached.
export class Pacer {
  private timer: NodeJS.Timeout | undefined
  private dueAt = Infinity
  private endedAt = -Infinity
  private lastMs = 0
  private stopped = false
  // Asked while running: the soonest it was asked for, in ms from then.
  private askedMeanwhile: number | undefined

  constructor (
    private readonly work: () => void,
    private readonly gapMs: (lastRunMs: number) => number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  // Whether a run is due later (asked, inside the gap).
  get waiting (): boolean {
    return this.timer !== undefined
  }

  // Runs now if the gap since the last run has passed, else at its end.
  ask (): void {
    this.askIn(0)
  }

  // Runs in `ms`, or at the end of the gap if that is later. Asked while
  // it runs, it runs again after the gap (never inside itself).
  askIn (ms: number): void {
    if (this.stopped) return
    if (this.endedAt === Infinity) {
      this.askedMeanwhile = Math.min(ms, this.askedMeanwhile ?? Infinity)
      return
    }
    const t = this.now()
    const due = Math.max(t + ms, this.endedAt + this.gapMs(this.lastMs))
    if (due <= t) {
      this.run()
      return
    }
    if (due >= this.dueAt) return
    clearTimeout(this.timer)
    this.dueAt = due
    this.timer = setTimeout(() => this.run(), due - t).unref()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private run (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    this.dueAt = Infinity
    const started = this.now()
    // Running: asks wait for the end.
    this.endedAt = Infinity
    try {
      this.work()
    } finally {
      this.endedAt = this.now()
      this.lastMs = this.endedAt - started
      const again = this.askedMeanwhile
      this.askedMeanwhile = undefined
      if (again !== undefined) this.askIn(Math.max(again, 1))
    }
  }
}
