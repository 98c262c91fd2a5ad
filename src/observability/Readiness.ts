/**
 * What "ready" means for the service, as a pure function of what the health monitor observed, so
 * every rule is testable without a broker.
 */

export interface BrokerProbe {
  /** Undefined until the first probe answered or failed. */
  readonly reachable: boolean | undefined
  readonly checkedAt: number | undefined
  readonly error: string | undefined
}

interface ConnectionObservation {
  readonly groupId: string
  readonly connected: boolean
  readonly lastContactAt: number | undefined
  readonly lastError: string | undefined
}

export interface PipelineObservation {
  readonly name: string
  readonly assignedPartitions: number
  /** Records not yet processed on the partitions this process owns; undefined when unknown. */
  readonly lag: number | undefined
  /** Since when lag has been > 0 without a break (undefined when lag is 0 or unknown). */
  readonly lagSince: number | undefined
  readonly lastProgressAt: number | undefined
  readonly startedAt: number
  /**
   * Whether its consumer has joined the group at least once. A member that joined and got no
   * partition is idle: the group has more members than the topic has partitions (the assignors give
   * every member one otherwise). Before its first join it is starting up.
   */
  readonly joinedGroup: boolean
}

export interface ReadinessInput {
  readonly now: number
  readonly stallTimeoutMs: number
  readonly brokerContactTimeoutMs: number
  readonly broker: BrokerProbe
  readonly connections: ReadonlyArray<ConnectionObservation>
  readonly pipelines: ReadonlyArray<PipelineObservation>
}

/**
 * - `startup`: not consuming yet (no pipeline registered, or waiting for its first partition assignment);
 * - `ready`: consuming its partitions;
 * - `idle`: connected, in its group, but given no partition (a stand-by, taking over at the next rebalance);
 * - `not ready`: something is wrong (brokers unreachable, consumer disconnected, stalled).
 * `ready` and `idle` answer 200 on /readyz, the others 503.
 */
export type ReadinessState = "startup" | "ready" | "idle" | "not ready"

interface PipelineReadiness {
  readonly name: string
  readonly state: ReadinessState
  readonly ready: boolean
  readonly stalled: boolean
  readonly reasons: ReadonlyArray<string>
}

export interface Readiness {
  readonly state: ReadinessState
  /** `ready` or `idle`. */
  readonly ready: boolean
  /** Why not, one sentence each (empty when ready). */
  readonly reasons: ReadonlyArray<string>
  readonly pipelines: ReadonlyArray<PipelineReadiness>
  readonly checkedAt: number
}

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`

/** True when a consumer heard from its brokers recently enough. */
export const isConnected = (c: ConnectionObservation, now: number, contactTimeoutMs: number): boolean =>
  c.connected && c.lastContactAt !== undefined && now - c.lastContactAt <= contactTimeoutMs

/**
 * A pipeline is stalled when it has lag and made no progress (consumed or wrote nothing) for the stall
 * timeout, counted from the later of its last progress and the moment the lag appeared.
 */
const isStalled = (p: PipelineObservation, now: number, stallTimeoutMs: number): boolean => {
  if (p.lag === undefined || p.lag <= 0) return false
  const since = Math.max(p.lastProgressAt ?? p.startedAt, p.lagSince ?? p.startedAt)
  return now - since > stallTimeoutMs
}

/**
 * Ready = the brokers answer, every Kafka consumer of the process is connected, and every pipeline
 * is consuming its partitions, or idle in its group (more members than partitions), and not stalled.
 */
export const assessReadiness = (input: ReadinessInput): Readiness => {
  const { now } = input
  const global: Array<string> = []
  if (input.broker.reachable === false) {
    global.push(`Kafka brokers unreachable${input.broker.error === undefined ? "" : `: ${input.broker.error}`}`)
  }
  for (const c of input.connections) {
    if (isConnected(c, now, input.brokerContactTimeoutMs)) continue
    const heard = c.lastContactAt === undefined
      ? "never connected"
      : `last contact ${seconds(now - c.lastContactAt)} ago`
    global.push(
      `consumer group ${c.groupId} not connected to Kafka (${heard}${
        c.lastError === undefined ? "" : `; ${c.lastError}`
      })`
    )
  }
  if (input.pipelines.length === 0) global.push("no pipeline running yet")
  const pipelines = input.pipelines.map((p): PipelineReadiness => {
    const reasons: Array<string> = []
    const starting = p.assignedPartitions === 0 && !p.joinedGroup
    if (starting) reasons.push(`${p.name}: starting (waiting for its first partition assignment)`)
    const stalled = isStalled(p, now, input.stallTimeoutMs)
    if (stalled) {
      const since = Math.max(p.lastProgressAt ?? p.startedAt, p.lagSince ?? p.startedAt)
      reasons.push(`${p.name}: stalled (lag ${p.lag}, no progress for ${seconds(now - since)})`)
    }
    const state: ReadinessState = starting
      ? "startup"
      : reasons.length > 0 || global.length > 0
      ? "not ready"
      : p.assignedPartitions === 0
      ? "idle"
      : "ready"
    return { name: p.name, state, ready: state === "ready" || state === "idle", stalled, reasons }
  })
  const reasons = [...global, ...pipelines.flatMap((p) => p.reasons)]
  // Problems before the first assignment are start-up (consumers not connected yet), not a failure.
  const state: ReadinessState = pipelines.length === 0 || pipelines.some((p) => p.state === "startup")
    ? "startup"
    : reasons.length > 0
    ? "not ready"
    : pipelines.every((p) => p.state === "idle")
    ? "idle"
    : "ready"
  return { state, ready: state === "ready" || state === "idle", reasons, pipelines, checkedAt: now }
}
