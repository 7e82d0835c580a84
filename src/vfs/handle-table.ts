// What is open, by the handle number FUSE hands back with each request:
// open metadata files, open directory listings.
export class HandleTable<T> {
  private readonly open = new Map<number, T>()
  private next = 1

  add (value: T): number {
    // Never 0: a handle of 0 is what a request without one carries.
    while (this.open.has(this.next) || this.next === 0) this.next = (this.next + 1) >>> 0
    const fh = this.next
    this.open.set(fh, value)
    this.next = (this.next + 1) >>> 0
    return fh
  }

  get (fh: number): T | undefined {
    return this.open.get(fh)
  }

  release (fh: number): void {
    this.open.delete(fh)
  }

  get size (): number {
    return this.open.size
  }
}
