// What discovery remembers of described namespaces: by key, and by the
// type:inode a holder's link names, so a namespace seen again through the
// same holders is not opened again; and each one's lineage (owners and
// parents), which brings them into the snapshot along with it.
import type { Known, NsDescription, NsReader } from '../kernel/describe.js'
import { inoKey, nsKey, type InoKey, type NsKey, type NsType } from '../model/namespace.js'

// What discovery needs described; tests substitute a fake.
export interface NsDescriber {
  // Describe the namespace behind `path`, which readlink said is type:[ino].
  // `fresh` bypasses what is remembered by inode (the inode may have been
  // reused). Answers undefined when the holder vanished or now holds
  // another namespace.
  describe: (path: string, type: NsType, ino: number, fresh: boolean) => NsDescription | undefined
  // A namespace known only by its id (from listns(2)); undefined when it
  // cannot be opened (gone, or outside our view).
  describeById: (type: NsType, id: bigint) => NsDescription | undefined
  // The namespace of `key` and every owner and parent above it.
  lineage: (key: NsKey) => NsDescription[]
  // Drop these namespaces (they left the snapshot).
  evict: (keys: Iterable<NsKey>) => void
}

export class DescribeCache implements NsDescriber {
  private readonly byIno = new Map<InoKey, NsDescription>()
  private readonly byKey = new Map<NsKey, NsDescription>()
  private readonly known: Known = key => this.byKey.get(key)

  constructor (private readonly reader: NsReader) {}

  describe (path: string, type: NsType, ino: number, fresh: boolean): NsDescription | undefined {
    if (!fresh) {
      const cached = this.byIno.get(inoKey(type, ino))
      if (cached !== undefined) return cached
    }
    return this.remember(this.reader.describePath(path, type, ino, this.known))
  }

  describeById (type: NsType, id: bigint): NsDescription | undefined {
    return this.remember(this.reader.describeId(type, id, this.known))
  }

  lineage (key: NsKey): NsDescription[] {
    const out: NsDescription[] = []
    const seen = new Set<NsKey>()
    const walk = (k: NsKey | null): void => {
      if (k === null || seen.has(k)) return
      seen.add(k)
      const d = this.byKey.get(k)
      if (d === undefined) return
      out.push(d)
      walk(d.owner)
      walk(d.parent)
    }
    walk(key)
    return out
  }

  evict (keys: Iterable<NsKey>): void {
    for (const k of keys) {
      const d = this.byKey.get(k)
      if (d === undefined) continue
      this.byKey.delete(k)
      const ik = inoKey(d.type, d.ino)
      if (this.byIno.get(ik) === d) this.byIno.delete(ik)
    }
  }

  private remember (chain: NsDescription[] | undefined): NsDescription | undefined {
    if (chain === undefined) return undefined
    for (const d of chain) {
      this.byKey.set(nsKey(d), d)
      this.byIno.set(inoKey(d.type, d.ino), d)
    }
    return chain[0]
  }
}
