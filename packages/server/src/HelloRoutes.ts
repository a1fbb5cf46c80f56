/**
 * The reference application: what a Gatehouse-protected app looks like.
 *
 * - `GET /api/hello` (scope `read:hello`): `{ "hello": <subject> }`;
 * - `GET /ws` (scope `read:hello`): a WebSocket that echoes text frames. Revoking the session
 *   closes it with 4401 (the guard does that), and shutting down closes it with 1001. Frame size
 *   is capped by the server (`maxPayload`); the guard's limits (unread output, sockets per session
 *   and per address, message rate) apply to the echo without anything here: a peer that floods it
 *   without reading is closed once 1 MiB of echoes waits for it.
 */
import { HttpAuth, WebSocketGuard } from "@gatehouse-auth/http"
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"
import * as Shutdown from "./Shutdown.ts"

/**
 * The application's own scopes (the standard bundle): the hello routes', and those of the runs
 * routes (`RunRoutes`; `write:runs`, their super-scope, is not in the bundle).
 */
export const applicationScopes: ReadonlyArray<string> = ["read:hello", "write:hello", "read:runs", "write:tasks"]

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  const guard = yield* WebSocketGuard.WebSocketGuard
  const shutdown = yield* Shutdown.Shutdown

  yield* router.add(
    "GET",
    "/api/hello",
    auth.requireScopes(["read:hello"])(
      Effect.map(
        Effect.service(HttpAuth.CurrentSession),
        ({ session }) =>
          HttpServerResponse.jsonUnsafe({ hello: session.subject }, { headers: { "cache-control": "no-store" } })
      )
    )
  )

  yield* router.add(
    "GET",
    "/ws",
    guard.serve(["read:hello"], (socket) =>
      Effect.scoped(Effect.gen(function*() {
        const writer = yield* socket.writer
        const read = yield* Socket.readerString(socket)
        const echo = Effect.forever(
          Effect.flatMap(read, (frames) => Effect.forEach(frames, writer.write, { discard: true }))
        )
        const goAway = Effect.andThen(
          shutdown.begun,
          writer.write(new Socket.CloseEvent(Shutdown.goingAwayCloseCode, "server shutting down"))
        )
        yield* Effect.raceFirst(echo, goAway)
      })))
  )
}))
