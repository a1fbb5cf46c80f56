/**
 * A small notes app on Effect's `HttpRouter`, and the lines that add Gatehouse to it.
 *
 * The routes are what the app had before Gatehouse: a public home page and a notes API. Adding
 * Gatehouse means wrapping each route with who may call it (`auth.public`, `auth.requireScopes`)
 * and serving the routes through `GatehouseServer.serve`, which brings the stores (SQLite in the
 * state directory), the sessions, `/api/auth/*`, the `/pair` page and deny by default: a route
 * added later without a guard answers 401, not the data.
 */
import { HttpAuth, JsonBody } from "@gatehouse-auth/http"
import { GatehouseServer } from "@gatehouse-auth/server"
import { Effect, Ref, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

/** The scopes this app defines; pairing a device grants them. */
export const applicationScopes = ["read:notes", "write:notes"]

const NewNote = Schema.Struct({ text: Schema.String.check(Schema.isMaxLength(1000)) })

export const AppRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  const notes = yield* Ref.make<ReadonlyArray<{ readonly by: string; readonly text: string }>>([])

  yield* router.add("GET", "/", auth.public(Effect.succeed(HttpServerResponse.text("Notes. Pair at /pair."))))

  yield* router.add(
    "GET",
    "/api/notes",
    auth.requireScopes(["read:notes"])(
      Effect.map(Ref.get(notes), (all) => HttpServerResponse.jsonUnsafe({ notes: all }))
    )
  )

  yield* router.add(
    "POST",
    "/api/notes",
    auth.requireScopes(["write:notes"])(Effect.gen(function*() {
      const { session } = yield* HttpAuth.CurrentSession
      // Checks the content type and the size before decoding; a bad body is a 400 in the contract's shape.
      const { text } = yield* JsonBody.read(NewNote, { maxBytes: 4096, expected: `{"text": "..."}` })
      yield* Ref.update(notes, (all) => [...all, { by: session.subject, text }])
      return HttpServerResponse.jsonUnsafe({ ok: true }, { status: 201 })
    }))
  )
}))

export interface AppOptions {
  readonly port: number
  readonly stateDir: string
}

/** The app with Gatehouse around it, listening on 127.0.0.1. */
export const App = (options: AppOptions) =>
  AppRoutes.pipe(GatehouseServer.serve({ host: "127.0.0.1", ...options, applicationScopes }))
