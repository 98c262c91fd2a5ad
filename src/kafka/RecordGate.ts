/**
 * Bounds the records fetched from Kafka but not yet taken by the pipeline. The consumer callback waits
 * here before handing over a batch, so a slow pipeline pauses fetching instead of growing memory.
 * One batch is always let through when nothing is buffered, so a batch larger than the bound cannot
 * deadlock the consumer.
 */
export class RecordGate {
  private buffered = 0
  private closed = false
  private waiters: Array<() => void> = []
  readonly max: number

  constructor(max: number) {
    this.max = max
  }

  get size(): number {
    return this.buffered
  }

  /**
   * Waits for room for `n` records; `whileWaiting` runs every `intervalMs` (kafkajs needs heartbeats).
   * A failure of `whileWaiting` ends the wait with that failure (a rebalance must not wait for room).
   */
  async acquire(n: number, whileWaiting?: () => Promise<void>, intervalMs = 1_000): Promise<boolean> {
    while (!this.closed && this.buffered > 0 && this.buffered + n > this.max) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, intervalMs)
        const waiters = this.waiters
        function done() {
          clearTimeout(timer)
          const i = waiters.indexOf(done)
          if (i >= 0) waiters.splice(i, 1)
          resolve()
        }
        waiters.push(done)
      })
      if (whileWaiting !== undefined && !this.closed) await whileWaiting()
    }
    if (this.closed) return false
    this.buffered += n
    return true
  }

  release(n: number): void {
    this.buffered -= n
    this.wake()
  }

  /** Lets every waiter go (shutdown); later acquires fail fast. */
  close(): void {
    this.closed = true
    this.wake()
  }

  private wake(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}
