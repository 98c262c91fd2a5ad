import type { UserEvent } from "../domain/UserEvent.ts"
import * as Malformed from "./Malformed.ts"
import { SeededRandom } from "./SeededRandom.ts"
import { type SimulatedRecord, simulatedRecord } from "./SimulatedRecord.ts"

const pages = ["/", "/search", "/product/42", "/product/7", "/cart", "/checkout", "/account"]
const elements = ["buy-button", "nav-home", "banner", "add-to-cart", "recommendation"]

/** Event types and the metadata each one carries. */
const eventTypes: ReadonlyArray<readonly [string, (r: SeededRandom) => Record<string, string>]> = [
  ["page_view", (r) => ({ page: r.pick(pages), referrer: r.pick(["google", "direct", "newsletter"]) })],
  ["click", (r) => ({ page: r.pick(pages), element: r.pick(elements) })],
  ["add_to_cart", (r) => ({ product_id: String(r.int(1, 500)), quantity: String(r.int(1, 3)) })],
  ["purchase", (r) => ({ order_id: r.uuid(), amount: (r.int(500, 50_000) / 100).toFixed(2), currency: "EUR" })],
  ["search", (r) => ({ query: r.pick(["shoes", "laptop", "coffee", "lamp"]) })],
  ["login", (r) => ({ method: r.pick(["password", "sso"]) })],
  ["logout", () => ({})]
]

/** Kinds of malformed input the simulator can mix in, each one the pipeline must dead-letter. */
const malformedKinds: ReadonlyArray<Malformed.Kind<Record<string, unknown>>> = [
  Malformed.notJson,
  Malformed.withField("user_id", "user-1"),
  Malformed.withField("event_time", "yesterday"),
  Malformed.withField("event_type", ""),
  Malformed.withField("metadata", { clicks: 3 }),
  Malformed.withoutField("event_id")
]

/**
 * Seed 004's user events: `users` seeded users, page views, clicks, carts, purchases, searches, logins,
 * with per-type metadata. `event_time` alternates between ISO strings and epoch milliseconds (both are
 * accepted) and lags the publish time by up to 50 ms, so one user can have two events of one type in
 * the same millisecond. Deterministic for a seed.
 */
export class UserEventsSimulator {
  private readonly random: SeededRandom
  private readonly malformedShare: number
  readonly users: ReadonlyArray<string>

  constructor(seed: number, malformedShare = 0, users = 50) {
    this.random = new SeededRandom(seed)
    this.malformedShare = malformedShare
    const userIds = new SeededRandom(seed ^ 0x5eed)
    this.users = Array.from({ length: users }, () => userIds.uuid())
  }

  event(eventTimeMs: number, userId = this.random.pick(this.users)): UserEvent {
    const r = this.random
    const [eventType, metadata] = r.pick(eventTypes)
    return {
      event_id: r.uuid(),
      user_id: userId,
      event_type: eventType,
      event_time: eventTimeMs,
      metadata: metadata(r)
    }
  }

  /** The wire form: `event_time` as ISO string or epoch milliseconds. */
  encode(event: UserEvent): Record<string, unknown> {
    return {
      ...event,
      event_time: this.random.chance(0.5) ? new Date(event.event_time).toISOString() : event.event_time
    }
  }

  next(nowMs: number): SimulatedRecord {
    const event = this.event(nowMs - this.random.int(0, 50))
    return simulatedRecord(this.random, event.user_id, this.encode(event), this.malformedShare, malformedKinds)
  }

  batch(count: number, nowMs: number): Array<SimulatedRecord> {
    return Array.from({ length: count }, () => this.next(nowMs))
  }
}
