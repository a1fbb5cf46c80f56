/**
 * Reference routes for resource-level authorization (`HttpAuth.requireAccess`), mirroring the case
 * where a production bug lived (a token for one task could act on any task):
 *
 * - `POST /api/runs {task}` -> `201 {id, task}`: needs `write:tasks:<task>` (or `write:tasks`), or
 *   the route's super-scope `write:runs`;
 * - `POST /api/runs/batch {tasks: [...]}` -> `201 {runs}`: every task must be covered (`write:tasks`
 *   stands in for the collection), or `write:runs`;
 * - `GET /api/runs/:id` -> `{id, task}`: needs `read:runs:<id>` or `read:runs`.
 *
 * Runs are kept in memory (at most 10 000; the oldest is dropped): this is a demonstration.
 */
import { Hashing } from "@gatehouse-auth/core"
import { AuthError, HttpAuth, ResourceAccess } from "@gatehouse-auth/http"
import { Effect } from "effect"
import { Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/** A task name: what can stand in a scope's id (`write:tasks:<task>`). */
export const Task = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_.@-]{1,128}$/, {
  description: "1 to 128 letters, digits or _.@-"
}))

const NewRun = Schema.Struct({ task: Task })
const NewRuns = Schema.Struct({ tasks: Schema.Array(Task).check(Schema.isMinLength(1), Schema.isMaxLength(100)) })
const RunParams = Schema.Struct({ id: Schema.String.check(Schema.isPattern(/^run_[A-Za-z0-9_-]{16}$/)) })

interface Run {
  readonly id: string
  readonly task: string
}

const maxRuns = 10_000
const noStore = { "cache-control": "no-store" }

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  const runs = new Map<string, Run>()

  const create = (task: string): Run => {
    const run = { id: `run_${Hashing.randomId()}`, task }
    if (runs.size >= maxRuns) runs.delete(runs.keys().next().value!)
    runs.set(run.id, run)
    return run
  }

  yield* router.add(
    "POST",
    "/api/runs",
    auth.decoding({ body: NewRun, expected: `{"task": "build"}` }).requireAccess({
      action: "write",
      resources: ResourceAccess.anyResource("tasks", ({ body }) => body.task),
      superScopes: ["write:runs"]
    })(({ body }) =>
      Effect.sync(() => HttpServerResponse.jsonUnsafe(create(body.task), { status: 201, headers: noStore }))
    )
  )

  yield* router.add(
    "POST",
    "/api/runs/batch",
    auth.decoding({ body: NewRuns, expected: `{"tasks": ["build", "test"]}` }).requireAccess({
      action: "write",
      resources: ResourceAccess.everyResource("tasks", ({ body }) => body.tasks, { collection: true }),
      superScopes: ["write:runs"]
    })(({ body }) =>
      Effect.sync(() =>
        HttpServerResponse.jsonUnsafe({ runs: body.tasks.map(create) }, { status: 201, headers: noStore })
      )
    )
  )

  yield* router.add(
    "GET",
    "/api/runs/:id",
    auth.decoding({ params: RunParams }).requireAccess({
      action: "read",
      resources: ResourceAccess.anyResource("runs", ({ params }) => params.id)
    })(({ params }) => {
      const run = runs.get(params.id)
      return run === undefined
        ? Effect.fail(AuthError.notFound("No such run"))
        : Effect.succeed(HttpServerResponse.jsonUnsafe(run, { headers: noStore }))
    })
  )
}))
