/**
 * The WebSocket upgrade guard. Before anything is upgraded it checks the Origin (every upgrade,
 * whatever the credential: browsers send cookies on cross-site WebSocket requests), then
 * authenticates with the session cookie or a single-use `wsTicket` query parameter (the ticket
 * is tried when a cookie sent with it is refused), then the scopes. A refused upgrade is an ordinary HTTP error response; no socket is opened.
 *
 * Live sockets are tracked per session. When a session is revoked its sockets are closed with code
 * 4401: at once for a revoke on this instance (the `SessionCredentialService.changes` stream), and
 * within `livenessInterval` (default 500 ms) for a revoke made elsewhere (the CLI, another instance
 * on the same database), found by re-reading the connected sessions from the store.
 */
import { type Ids, Scopes, ServerAuth, SessionCredentialService } from "@gatehouse-auth/core"
import { Context, Deferred, Duration, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"
import * as AuthError from "./AuthError.ts"
import { HttpAuth } from "./HttpAuth.ts"
import * as RequestInfo from "./RequestInfo.ts"
import * as RouteAccess from "./RouteAccess.ts"

/** The close code of a socket whose session was revoked. */
export const revokedCloseCode = 4401

export interface WebSocketGuardShape {
  /**
   * A route handler: authenticates the upgrade, then runs `handler` with the socket until it ends
   * or the session is revoked.
   */
  readonly serve: <E, R>(
    scopes: ReadonlyArray<string>,
    handler: (socket: Socket.Socket, authenticated: ServerAuth.Authenticated) => Effect.Effect<void, E, R>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | R>
  /** Closes every socket of `sid` on this instance with 4401. */
  readonly closeSession: (sid: Ids.SessionId) => Effect.Effect<void>
  /** Live sockets on this instance. */
  readonly connections: Effect.Effect<number>
}

export class WebSocketGuard extends Context.Service<WebSocketGuard, WebSocketGuardShape>()(
  "@gatehouse-auth/http/WebSocketGuard"
) {}

const ticketOf = (request: HttpServerRequest.HttpServerRequest): RequestInfo.Presented => {
  const query = request.url.indexOf("?")
  if (query < 0) return { _tag: "None" }
  const ticket = new URLSearchParams(request.url.slice(query + 1)).get("wsTicket")
  if (ticket === null) return { _tag: "None" }
  return ticket.length === 0 || ticket.length > RequestInfo.maxCredentialLength || !/^[A-Za-z0-9._-]+$/.test(ticket)
    ? { _tag: "Malformed" }
    : { _tag: "Token", token: Redacted.make(ticket, { label: "ws-ticket" }) }
}

export interface Options {
  /** How often connected sessions are re-read to notice revocations made elsewhere (default 500 ms). */
  readonly livenessInterval?: Duration.Input | undefined
}

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const auth = yield* HttpAuth
  const serverAuth = yield* ServerAuth.ServerAuth
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const live = new Map<Ids.SessionId, Set<Deferred.Deferred<void>>>()

  const closeSession = (sid: Ids.SessionId) =>
    Effect.forEach(live.get(sid) ?? [], (closed) => Deferred.succeed(closed, undefined), { discard: true })

  yield* sessions.changes.pipe(
    Stream.runForEach((change) => change._tag === "Revoked" ? closeSession(change.sid) : Effect.void),
    Effect.forkScoped
  )

  /**
   * Closes the sockets of connected sessions that are no longer live in the store: one batched
   * read for all of them, however many are connected.
   */
  const closeGone = Effect.suspend(() => {
    const connected = [...live.keys()]
    return sessions.liveAmong(connected).pipe(
      Effect.flatMap((alive) =>
        Effect.forEach(connected.filter((sid) => !alive.has(sid)), closeSession, { discard: true })
      ),
      // A store outage must not close everyone's sockets, nor stop the loop.
      Effect.catch((error) => Effect.logWarning("WebSocket liveness check failed", error.message))
    )
  })
  yield* closeGone.pipe(
    Effect.repeat(Schedule.spaced(options.livenessInterval ?? Duration.millis(500))),
    Effect.forkScoped
  )

  /** One credential, cookie or ticket; a refused or malformed one counts against the address. */
  const verify = (presented: RequestInfo.Presented, via: "cookie" | "ticket") => {
    if (presented._tag === "Malformed") return auth.failCredential(AuthError.invalidCredential())
    if (presented._tag === "Ambiguous") return Effect.fail(AuthError.ambiguousCookie())
    // Neither cookie nor ticket is a missing credential, which does not count against the address.
    const credentials = presented._tag === "None"
      ? {}
      : via === "cookie"
      ? { cookie: presented.token }
      : { ticket: presented.token }
    return auth.countFailures(serverAuth.authenticateWebSocketUpgrade(credentials))
  }

  const authenticateUpgrade = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    yield* auth.checkOrigin
    const cookie = RequestInfo.cookieValue(request, auth.sessionCookie(request).name)
    const ticket = ticketOf(request)
    if (cookie._tag === "None") return yield* verify(ticket, "ticket")
    // A stale or junk cookie must not shadow a good ticket sent alongside it.
    return yield* ticket._tag === "None"
      ? verify(cookie, "cookie")
      : Effect.catch(verify(cookie, "cookie"), () => verify(ticket, "ticket"))
  })

  const track = (sid: Ids.SessionId) =>
    Effect.acquireRelease(
      Effect.flatMap(Deferred.make<void>(), (closed) =>
        Effect.as(
          Effect.andThen(
            Effect.sync(() => {
              const set = live.get(sid) ?? new Set()
              set.add(closed)
              live.set(sid, set)
            }),
            sessions.markConnected(sid)
          ),
          closed
        )),
      (closed) =>
        Effect.andThen(
          Effect.sync(() => {
            const set = live.get(sid)
            set?.delete(closed)
            if (set?.size === 0) live.delete(sid)
          }),
          sessions.markDisconnected(sid)
        )
    )

  const serve = <E, R>(
    scopes: ReadonlyArray<string>,
    handler: (socket: Socket.Socket, authenticated: ServerAuth.Authenticated) => Effect.Effect<void, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | R> =>
    RouteAccess.declare(auth.respond(Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const authenticated = yield* authenticateUpgrade
      const missing = Scopes.missing(authenticated.session.scopes, scopes)
      if (missing.length > 0) return yield* AuthError.insufficientScope(missing)
      const socket = yield* request.upgrade.pipe(
        Effect.mapError(() => AuthError.invalidRequest("This endpoint needs a WebSocket upgrade"))
      )
      yield* Effect.scoped(Effect.gen(function*() {
        const closed = yield* track(authenticated.session.sid)
        const writer = yield* socket.writer
        const revoked = Deferred.await(closed).pipe(
          Effect.andThen(writer.write(new Socket.CloseEvent(revokedCloseCode, "session revoked"))),
          Effect.ignore
        )
        yield* Effect.raceFirst(Effect.ignore(handler(socket, authenticated)), revoked)
      }))
      return HttpServerResponse.empty()
    })))

  return WebSocketGuard.of({
    serve,
    closeSession,
    connections: Effect.sync(() => [...live.values()].reduce((sum, set) => sum + set.size, 0))
  })
})

export const layer = (options: Options = {}) => Layer.effect(WebSocketGuard, make(options))
