import { Context, Effect, Layer, Metric } from "effect"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import { getHeapStatistics } from "node:v8"

/**
 * The process's own health on `/metrics`, under the names Prometheus' Node client uses, so existing
 * dashboards and alerts apply: memory, CPU, event-loop lag, GC pauses and open handles. In a
 * one-thread service, event-loop lag is the signal that says the process is too busy to keep up.
 */

const gauge = (name: string, description: string) => Metric.gauge(name, { description })
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })
const gauges = {
  rss: gauge("process_resident_memory_bytes", "Resident memory size in bytes"),
  startTime: gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds"),
  heapUsed: gauge("nodejs_heap_size_used_bytes", "V8 heap in use, in bytes"),
  heapTotal: gauge("nodejs_heap_size_total_bytes", "V8 heap allocated, in bytes"),
  heapLimit: gauge("nodejs_heap_size_limit_bytes", "V8 heap size limit (what the heap may grow to), in bytes"),
  external: gauge("nodejs_external_memory_bytes", "Memory of C++ objects bound to JavaScript objects, in bytes"),
  lagP50: gauge("nodejs_eventloop_lag_p50_seconds", "Event-loop lag, median since the previous scrape"),
  lagP99: gauge("nodejs_eventloop_lag_p99_seconds", "Event-loop lag, 99th percentile since the previous scrape"),
  lagMax: gauge("nodejs_eventloop_lag_max_seconds", "Event-loop lag, maximum since the previous scrape"),
  resources: gauge(
    "nodejs_active_resources_total",
    "Resources keeping the event loop alive (sockets, timers, file handles...)"
  )
}
const cpu = {
  user: counter("process_cpu_user_seconds_total", "User CPU time spent, in seconds"),
  system: counter("process_cpu_system_seconds_total", "System CPU time spent, in seconds"),
  total: counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds")
}
const gcDuration = Metric.histogram("nodejs_gc_duration_seconds", {
  description: "Garbage collection pauses, by kind (minor, major, incremental, weakcb)",
  boundaries: [0.001, 0.01, 0.1, 1, 2, 5]
})

/** Node's GC kinds (perf_hooks constants NODE_PERFORMANCE_GC_*). */
const gcKinds: Record<number, string> = { 1: "minor", 2: "major", 4: "incremental", 8: "weakcb" }

/** The sampling period of the lag monitor; subtracted, so an idle loop reads 0 rather than 10 ms. */
const resolutionMs = 10
/** GC pauses kept between two scrapes, at most (a scrape that never comes must not grow memory). */
const maxPendingPauses = 10_000

const lagSeconds = (nanoseconds: number) => Math.max(0, nanoseconds / 1e6 - resolutionMs) / 1000

export class RuntimeMetrics extends Context.Service<RuntimeMetrics, {
  /** Reads the figures into the metrics; run before formatting `/metrics`. */
  readonly refresh: Effect.Effect<void>
}>()("tributary/observability/RuntimeMetrics") {
  static readonly layer = Layer.effect(
    RuntimeMetrics,
    Effect.gen(function*() {
      const lag = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const h = monitorEventLoopDelay({ resolution: resolutionMs })
          h.enable()
          return h
        }),
        (h) => Effect.sync(() => h.disable())
      )
      const pauses: Array<{ readonly kind: string; readonly seconds: number }> = []
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const observer = new PerformanceObserver((list) => {
            for (const entry of list.getEntries()) {
              if (pauses.length >= maxPendingPauses) break
              const kind = (entry as { readonly detail?: { readonly kind?: number } }).detail?.kind ?? 0
              pauses.push({ kind: gcKinds[kind] ?? "other", seconds: entry.duration / 1000 })
            }
          })
          observer.observe({ entryTypes: ["gc"] })
          return observer
        }),
        (observer) => Effect.sync(() => observer.disconnect())
      )
      let lastCpu = { user: 0, system: 0 }
      // When the process started (epoch seconds): the time origin of its performance timeline.
      const startTime = performance.timeOrigin / 1000

      const refresh = Effect.suspend(() => {
        const memory = process.memoryUsage()
        const heap = getHeapStatistics()
        const usage = process.cpuUsage()
        const user = (usage.user - lastCpu.user) / 1e6
        const system = (usage.system - lastCpu.system) / 1e6
        lastCpu = usage
        const updates = [
          Metric.update(gauges.rss, memory.rss),
          Metric.update(gauges.startTime, startTime),
          Metric.update(gauges.heapUsed, memory.heapUsed),
          Metric.update(gauges.heapTotal, memory.heapTotal),
          Metric.update(gauges.heapLimit, heap.heap_size_limit),
          Metric.update(gauges.external, memory.external),
          Metric.update(gauges.lagP50, lagSeconds(lag.percentile(50))),
          Metric.update(gauges.lagP99, lagSeconds(lag.percentile(99))),
          Metric.update(gauges.lagMax, lagSeconds(lag.max)),
          Metric.update(gauges.resources, process.getActiveResourcesInfo().length),
          Metric.update(cpu.user, user),
          Metric.update(cpu.system, system),
          Metric.update(cpu.total, user + system),
          ...pauses.splice(0).map((p) => Metric.update(Metric.withAttributes(gcDuration, { kind: p.kind }), p.seconds))
        ]
        // Percentiles since the previous scrape: a spike shows once, then ages out.
        lag.reset()
        return Effect.all(updates, { discard: true })
      })

      return RuntimeMetrics.of({ refresh })
    })
  )
}
