import { Effect, Option } from "effect"
import { HttpClientRequest } from "effect/http"
import { type HopsworksError, JobNotFound } from "../HopsworksError.ts"
import type { MaterializationExecution, ResolvedFeatureGroup } from "../HopsworksModel.ts"
import { ExecutionDTO } from "../HopsworksSchemas.ts"
import { asHopsworksError, type HopsworksHttp, type Operation } from "./HopsworksHttp.ts"
import type { ProjectContext } from "./ProjectContext.ts"

/** Jobs: the offline materialization job of a stream feature group (protocol page §7). */
export const makeJobApi = (http: HopsworksHttp, context: Effect.Effect<ProjectContext, HopsworksError>) => {
  const startMaterialization = Effect.fn("HopsworksClient.startMaterialization")(
    function*(fg: ResolvedFeatureGroup) {
      const ctx = yield* context
      const jobs = [
        `${fg.name}_${fg.version}_offline_fg_materialization`,
        `${fg.name}_${fg.version}_offline_fg_backfill`
      ]
      for (const jobName of jobs) {
        const op: Operation = { description: `start the job "${jobName}"`, scope: "JOB" }
        // Empty text/plain body: the job runs with its default arguments.
        const execution = yield* http.send(
          op,
          HttpClientRequest.post(`/project/${ctx.projectId}/jobs/${encodeURIComponent(jobName)}/executions`).pipe(
            HttpClientRequest.bodyText("", "text/plain")
          )
        ).pipe(
          Effect.flatMap(http.decode(op, ExecutionDTO)),
          Effect.map(Option.some),
          // 404 / 130009 JOB_NOT_FOUND: try the pre-3.4 name
          http.recover(op, (rejected) => (rejected.status === 404 ? Effect.succeedNone : undefined))
        )
        if (Option.isSome(execution)) {
          return {
            jobName,
            executionId: execution.value.id,
            state: execution.value.state ?? "INITIALIZING"
          } satisfies MaterializationExecution
        }
      }
      return yield* asHopsworksError(new JobNotFound({ jobs, project: http.settings.project }))
    }
  )

  return { startMaterialization }
}
