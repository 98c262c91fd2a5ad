/**
 * Minimal binary min-heap keyed by a number, used for session windows whose ends differ per key
 * (aligned windows use a sorted array of slices instead). Entries are never removed from the middle:
 * callers re-validate an entry when it is popped ("lazy deletion").
 */
export interface MinHeap<A> {
  readonly size: () => number
  readonly push: (priority: number, item: A) => void
  readonly peekPriority: () => number
  readonly pop: () => A | undefined
  readonly clear: () => void
}

export const makeMinHeap = <A>(): MinHeap<A> => {
  const prio: Array<number> = []
  const items: Array<A> = []

  const swap = (i: number, j: number): void => {
    const p = prio[i]!
    prio[i] = prio[j]!
    prio[j] = p
    const x = items[i]!
    items[i] = items[j]!
    items[j] = x
  }

  return {
    size: () => prio.length,
    push: (priority, item) => {
      prio.push(priority)
      items.push(item)
      let i = prio.length - 1
      while (i > 0) {
        const parent = (i - 1) >> 1
        if (prio[parent]! <= prio[i]!) break
        swap(i, parent)
        i = parent
      }
    },
    peekPriority: () => (prio.length === 0 ? Infinity : prio[0]!),
    pop: () => {
      const n = prio.length
      if (n === 0) return undefined
      const top = items[0]
      swap(0, n - 1)
      prio.pop()
      items.pop()
      const m = n - 1
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let smallest = i
        if (l < m && prio[l]! < prio[smallest]!) smallest = l
        if (r < m && prio[r]! < prio[smallest]!) smallest = r
        if (smallest === i) break
        swap(i, smallest)
        i = smallest
      }
      return top
    },
    clear: () => {
      prio.length = 0
      items.length = 0
    }
  }
}
