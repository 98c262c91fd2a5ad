import { Effect, Option, Ref } from "effect"
import { HttpClientRequest } from "effect/http"
import { FeatureStoreNotFound, type HopsworksError, ProjectNotFound } from "../HopsworksError.ts"
import { FeaturestoreDTO, ProjectDTO } from "../HopsworksSchemas.ts"
import { asHopsworksError, type HopsworksHttp, type Operation } from "./HopsworksHttp.ts"

/** The ids every other path is built from. */
export interface ProjectContext {
  readonly projectId: number
  readonly featureStoreId: number
  /** Owner of the feature store (differs from projectId for a shared feature store). */
  readonly ownerProjectId: number
  /** Name of the owner project (for the default topic name). */
  readonly ownerProjectName: string
}

/** The project and its feature store, looked up on first use; a success is kept, a failure is tried again. */
export const makeProjectContext = Effect.fnUntraced(function*(http: HopsworksHttp) {
  const { project } = http.settings
  const cache = yield* Ref.make(Option.none<ProjectContext>())
  const enc = encodeURIComponent

  const lookup = Effect.gen(function*() {
    const projectOp: Operation = { description: `look up project "${project}"`, scope: "PROJECT" }
    const projectDto = yield* http.send(projectOp, HttpClientRequest.get(`/project/getProjectInfo/${enc(project)}`))
      .pipe(
        Effect.flatMap(http.decode(projectOp, ProjectDTO)),
        http.recover(projectOp, (rejected) =>
          rejected.status === 404
            ? Effect.fail(asHopsworksError(new ProjectNotFound({ project, endpoint: http.endpoint })))
            : undefined)
      )

    const fsOp: Operation = { description: `look up feature store "${http.featureStoreName}"`, scope: "FEATURESTORE" }
    const fs = yield* http.send(
      fsOp,
      HttpClientRequest.get(`/project/${projectDto.projectId}/featurestores/${enc(http.featureStoreName)}`)
    ).pipe(
      Effect.flatMap(http.decode(fsOp, FeaturestoreDTO)),
      http.recover(fsOp, (rejected) =>
        rejected.status === 404
          ? Effect.fail(asHopsworksError(new FeatureStoreNotFound({ featureStore: http.featureStoreName, project })))
          : undefined)
    )
    const context: ProjectContext = {
      projectId: projectDto.projectId,
      featureStoreId: fs.featurestoreId,
      ownerProjectId: fs.projectId,
      ownerProjectName: fs.projectName ?? projectDto.projectName ?? project
    }
    yield* Ref.set(cache, Option.some(context))
    return context
  })

  const get: Effect.Effect<ProjectContext, HopsworksError> = Effect.flatMap(
    Ref.get(cache),
    (cached) => (Option.isSome(cached) ? Effect.succeed(cached.value) : lookup)
  )
  return get
})
