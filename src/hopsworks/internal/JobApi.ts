import { Effect, Option } from "effect"
import { HttpClientRequest } from "effect/http"
import { type HopsworksError, JobNotFound, MaterializationRunning, UnexpectedResponse } from "../HopsworksError.ts"
import type { MaterializationExecution, MaterializationOptions, ResolvedFeatureGroup } from "../HopsworksModel.ts"
import { ExecutionDTO, ExecutionList, JobDTO } from "../HopsworksSchemas.ts"
import { asHopsworksError, type HopsworksHttp, type Operation } from "./HopsworksHttp.ts"
import type { ProjectContext } from "./ProjectContext.ts"

/** States after which an execution no longer runs. */
const finalStates = new Set([
  "FINISHED",
  "FAILED",
  "KILLED",
  "FRAMEWORK_FAILURE",
  "APP_MASTER_START_FAILED",
  "INITIALIZATION_FAILED"
])

const jobPath = (ctx: ProjectContext, job: string) => `/project/${ctx.projectId}/jobs/${encodeURIComponent(job)}`

/** Running: no final status yet (`UNDEFINED`, what hsfs checks), and not in a final state. */
const isRunning = (e: ExecutionDTO): boolean =>
  (e.finalStatus ?? "UNDEFINED") === "UNDEFINED" && !finalStates.has(e.state ?? "")

/**
 * Jobs: the offline materialization job of a stream feature group (protocol page §7). An execution is
 * started only when none is running, and never twice for one request.
 */
export const makeJobApi = (http: HopsworksHttp, context: Effect.Effect<ProjectContext, HopsworksError>) => {
  /** The newest execution of the job (None: it never ran); outer None when the job does not exist. */
  const latestExecution = (ctx: ProjectContext, job: string) => {
    const op: Operation = { description: `read the executions of the job "${job}"`, scope: "JOB" }
    return http.send(
      op,
      HttpClientRequest.get(`${jobPath(ctx, job)}/executions`, {
        urlParams: { limit: "1", offset: "0", sort_by: "submissiontime:desc" }
      })
    ).pipe(
      Effect.flatMap(http.decode(op, ExecutionList)),
      Effect.map((list) => Option.some(Option.fromNullishOr(list.items?.[0]))),
      // 404 / 130009 JOB_NOT_FOUND
      http.recover(
        op,
        (rejected) => rejected.status === 404 ? Effect.succeed(Option.none<Option.Option<ExecutionDTO>>()) : undefined
      )
    )
  }

  /** `-initialCheckPointString` goes after the job's default arguments: a non-empty body replaces them. */
  const argumentsFor = Effect.fnUntraced(
    function*(ctx: ProjectContext, job: string, fg: ResolvedFeatureGroup, options: MaterializationOptions) {
      const checkpoint = options.initialCheckpoint
      if (checkpoint === undefined || checkpoint.length === 0) return "" // empty: the default arguments
      const op: Operation = { description: `read the job "${job}"`, scope: "JOB" }
      const dto = yield* http.json(op, HttpClientRequest.get(jobPath(ctx, job)), JobDTO)
      const defaults = dto.config?.defaultArgs ?? ""
      if (defaults.trim().length === 0) {
        return yield* asHopsworksError(
          new UnexpectedResponse({ operation: op.description, status: 200, detail: "the job has no default arguments" })
        )
      }
      const offsets = checkpoint.map((c) => `${c.partition}:${c.offset}`).join(",")
      return `${defaults.trim()} -initialCheckPointString ${fg.onlineTopicName},${offsets}`
    }
  )

  const startMaterialization = Effect.fn("HopsworksClient.startMaterialization")(
    function*(fg: ResolvedFeatureGroup, options: MaterializationOptions = {}) {
      const ctx = yield* context
      const jobs = [
        `${fg.name}_${fg.version}_offline_fg_materialization`,
        `${fg.name}_${fg.version}_offline_fg_backfill` // before 3.4
      ]
      for (const jobName of jobs) {
        const latest = yield* latestExecution(ctx, jobName)
        if (Option.isNone(latest)) continue
        if (Option.isSome(latest.value) && isRunning(latest.value.value)) {
          const running = latest.value.value
          return yield* asHopsworksError(
            new MaterializationRunning({ job: jobName, executionId: running.id, state: running.state ?? "UNDEFINED" })
          )
        }
        const args = yield* argumentsFor(ctx, jobName, fg, options)
        const op: Operation = { description: `start the job "${jobName}"`, scope: "JOB", creates: "once" }
        const execution = yield* http.create<ExecutionDTO, HopsworksError>(op, {
          // Nothing ran before the first attempt: an execution running now is the one it started.
          find: Effect.map(latestExecution(ctx, jobName), (found) => Option.filter(Option.flatten(found), isRunning)),
          attempt: http.sendOnce(
            op,
            HttpClientRequest.post(`${jobPath(ctx, jobName)}/executions`).pipe(
              HttpClientRequest.bodyText(args, "text/plain")
            )
          ).pipe(Effect.flatMap(http.decode(op, ExecutionDTO)), http.recover(op, () => undefined))
        })
        return {
          jobName,
          executionId: execution.id,
          state: execution.state ?? "INITIALIZING"
        } satisfies MaterializationExecution
      }
      return yield* asHopsworksError(new JobNotFound({ jobs, project: http.settings.project }))
    }
  )

  return { startMaterialization }
}
