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
 *
 * Every socket is bounded, so an application route gets the limits without doing anything (the
 * handler is given a socket whose reads and writes the guard watches):
 *
 * - outgoing data the peer has not taken: past `maxBufferedBytes` (default 1 MiB) the socket is
 *   sent a 1008 close and dropped at once, releasing what was buffered (a peer that stopped
 *   reading never answers a close handshake). Measured on the transport (Node's socket: bytes
 *   written and not yet handed to the kernel), after every write and every `bufferCheckInterval`;
 * - open sockets: at most `maxPerSession` (16) per session and `maxPerAddress` (64) per client
 *   address (IPv6 grouped by /64, as the rate limiter does); the next upgrade is a 429;
 * - incoming messages: a token bucket per socket, `messagesPerSecond` (100) refill and
 *   `messageBurst` (200) capacity, counted as the handler reads them; beyond it, a 1008 close.
 */
import { Durations, Errors, type Ids, Scopes, ServerAuth, SessionCredentialService } from "@gatehouse-auth/core"
import { Clock, Context, Deferred, Duration, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"
import * as AuthError from "./AuthError.ts"
import { HttpAuth } from "./HttpAuth.ts"
import { addressGroup } from "./RateLimiter.ts"
import * as RequestInfo from "./RequestInfo.ts"
import * as RouteAccess from "./RouteAccess.ts"

/** The close code of a socket whose session was revoked. */
export const revokedCloseCode = 4401

/** The close code of a socket that broke a limit: too much unread output, or too many messages. */
export const policyViolationCloseCode = 1008

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

export interface Limits {
  /** Outgoing bytes a socket may have buffered (written, not yet taken by the peer); default 1 MiB. */
  readonly maxBufferedBytes?: number | undefined
  /** How often every socket's buffer is looked at besides after each write (default 1 second). */
  readonly bufferCheckInterval?: Duration.Input | undefined
  /** Open sockets per session on this instance (default 16); the next upgrade is a 429. */
  readonly maxPerSession?: number | undefined
  /** Open sockets per client address on this instance (default 64); the next upgrade is a 429. */
  readonly maxPerAddress?: number | undefined
  /** Incoming messages per second a socket's bucket refills with (default 100). */
  readonly messagesPerSecond?: number | undefined
  /** Incoming messages a socket may send at once, the bucket's capacity (default 200). */
  readonly messageBurst?: number | undefined
}

export interface Options {
  /** How often connected sessions are re-read to notice revocations made elsewhere (default 500 ms). */
  readonly livenessInterval?: Duration.Input | undefined
  /** The per-socket limits (see the module's comment). */
  readonly webSocketLimits?: Limits | undefined
}

export const defaultLimits = {
  maxBufferedBytes: 1024 * 1024,
  maxPerSession: 16,
  maxPerAddress: 64,
  messagesPerSecond: 100,
  messageBurst: 200
} as const

/** A refused upgrade over a socket cap waits this long before trying again. */
const capRetryAfterSeconds = 5

/**
 * What the guard needs of the connection under the WebSocket: how much it has buffered, and a way
 * to drop it without a handshake. Node's `net.Socket` (the request's `socket`) is one; another
 * platform's request yields `undefined`, and the buffer limit is not enforced there.
 */
interface Transport {
  readonly writableLength: number
  readonly destroy: () => void
}

const transportOf = (request: HttpServerRequest.HttpServerRequest): Transport | undefined => {
  const socket = (request.source as { readonly socket?: Partial<Transport> } | undefined)?.socket
  return socket !== undefined && typeof socket.writableLength === "number" && typeof socket.destroy === "function"
    ? socket as Transport
    : undefined
}

/** Why the guard ends a socket: its close frame, and whether the connection is dropped with it. */
interface Closing {
  readonly code: number
  readonly reason: string
  readonly drop: boolean
}

const revokedClosing: Closing = { code: revokedCloseCode, reason: "session revoked", drop: false }
const overflowClosing: Closing = { code: policyViolationCloseCode, reason: "too much unread data", drop: true }
const rateClosing: Closing = { code: policyViolationCloseCode, reason: "too many messages", drop: false }

const positiveWhole = (value: number) => Number.isInteger(value) && value >= 1
const positive = (value: number) => Number.isFinite(value) && value > 0

/**
 * The limits with their defaults; a count that is not a positive whole number (or a rate that is
 * not positive) is an `InvalidRequest`, at start rather than a socket that can never open.
 */
export const resolveLimits = Effect.fnUntraced(function*(limits: Limits = {}) {
  const resolved = { ...defaultLimits, ...definedOnly(limits) }
  const bufferCheckMillis = yield* Durations.toMillis(
    "webSocketLimits.bufferCheckInterval",
    limits.bufferCheckInterval,
    Duration.seconds(1)
  )
  if (
    !positiveWhole(resolved.maxBufferedBytes) || !positiveWhole(resolved.maxPerSession) ||
    !positiveWhole(resolved.maxPerAddress) || !positive(resolved.messagesPerSecond) ||
    !positiveWhole(resolved.messageBurst)
  ) {
    return yield* new Errors.InvalidRequest({
      message:
        "webSocketLimits: maxBufferedBytes, maxPerSession, maxPerAddress and messageBurst must be whole numbers >= 1, messagesPerSecond a positive number"
    })
  }
  return { ...resolved, bufferCheckMillis }
})

const definedOnly = (limits: Limits) => {
  const defined: Partial<Record<keyof typeof defaultLimits, number>> = {}
  for (const key of Object.keys(defaultLimits) as Array<keyof typeof defaultLimits>) {
    const value = limits[key]
    if (value !== undefined) defined[key] = value
  }
  return defined
}

/** A count per key, for the socket caps; a key at zero is removed, so the maps hold live keys only. */
const counter = () => {
  const counts = new Map<string, number>()
  return {
    get: (key: string) => counts.get(key) ?? 0,
    add: (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1),
    remove: (key: string) => {
      const count = (counts.get(key) ?? 0) - 1
      if (count > 0) counts.set(key, count)
      else counts.delete(key)
    }
  }
}

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const auth = yield* HttpAuth
  const serverAuth = yield* ServerAuth.ServerAuth
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const limits = yield* resolveLimits(options.webSocketLimits)
  const live = new Map<Ids.SessionId, Set<Deferred.Deferred<Closing>>>()
  // Sockets by session and by address group, counted from before the upgrade to the socket's end.
  const perSession = counter()
  const perAddress = counter()
  // The buffer check of every open socket, for the periodic sweep.
  const bufferChecks = new Set<() => void>()

  const closeSession = (sid: Ids.SessionId) =>
    Effect.forEach(live.get(sid) ?? [], (closing) => Deferred.succeed(closing, revokedClosing), { discard: true })

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

  // Output also grows without the handler writing (`ws` answers every ping with a pong), so the
  // buffers are looked at on a timer too, not only after writes.
  yield* Effect.sync(() => bufferChecks.forEach((check) => check())).pipe(
    Effect.repeat(Schedule.spaced(Duration.millis(limits.bufferCheckMillis))),
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

  /**
   * A place under both caps, held until the socket ends. Checked and taken in one step, before the
   * upgrade: upgrades in flight count, so a burst of them cannot all pass the check.
   */
  const reserve = (sid: Ids.SessionId, group: string) =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        if (perSession.get(sid) >= limits.maxPerSession || perAddress.get(group) >= limits.maxPerAddress) {
          return Effect.fail(
            AuthError.rateLimited(capRetryAfterSeconds, "Too many open WebSockets; close one and try again")
          )
        }
        perSession.add(sid)
        perAddress.add(group)
        return Effect.void
      }),
      () =>
        Effect.sync(() => {
          perSession.remove(sid)
          perAddress.remove(group)
        })
    )

  const track = (sid: Ids.SessionId) =>
    Effect.acquireRelease(
      Effect.flatMap(Deferred.make<Closing>(), (closing) =>
        Effect.as(
          Effect.andThen(
            Effect.sync(() => {
              const set = live.get(sid) ?? new Set()
              set.add(closing)
              live.set(sid, set)
            }),
            sessions.markConnected(sid)
          ),
          closing
        )),
      (closing) =>
        Effect.andThen(
          Effect.sync(() => {
            const set = live.get(sid)
            set?.delete(closing)
            if (set?.size === 0) live.delete(sid)
          }),
          sessions.markDisconnected(sid)
        )
    )

  /**
   * Ends a socket: the close frame first, so a peer that reads sees why; then, when `drop`, the
   * connection is destroyed with whatever the peer left unread. Written while the handler's reader
   * is still open (the writer waits for one), so from the read or write that broke a limit, or
   * from the closer racing the handler.
   */
  const shut = (writer: Socket.Writer, transport: Transport | undefined, closed: Closing) =>
    Effect.andThen(
      Effect.ignore(writer.write(new Socket.CloseEvent(closed.code, closed.reason))),
      Effect.sync(() => {
        if (closed.drop) transport?.destroy()
      })
    )

  const limitError = (closed: Closing) =>
    new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: closed.code, closeReason: closed.reason }) })

  /**
   * The socket the handler is given: the upgraded one, with every write followed by the buffer
   * check and every read counted against the message bucket. A broken limit shuts the socket and
   * fails the read or write that broke it, so the handler stops there.
   */
  const guarded = Effect.fnUntraced(function*(
    socket: Socket.Socket,
    writer: Socket.Writer,
    transport: Transport | undefined,
    closing: Deferred.Deferred<Closing>
  ) {
    const overflowing = () => transport !== undefined && transport.writableLength > limits.maxBufferedBytes
    // The sweep drops the connection itself: the closer may be waiting on a handler that does not
    // read, and the buffer must go now, not when the close frame is written.
    const sweep = () => {
      if (!overflowing()) return
      Deferred.doneUnsafe(closing, Effect.succeed(overflowClosing))
      transport?.destroy()
    }
    bufferChecks.add(sweep)
    yield* Effect.addFinalizer(() => Effect.sync(() => bufferChecks.delete(sweep)))
    const afterWrite = Effect.suspend(() =>
      overflowing()
        ? Effect.andThen(shut(writer, transport, overflowClosing), Effect.fail(limitError(overflowClosing)))
        : Effect.void
    )

    let tokens = limits.messageBurst
    let updatedAt = yield* Clock.currentTimeMillis
    const perMilli = limits.messagesPerSecond / 1000
    const take = (count: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        tokens = Math.min(limits.messageBurst, tokens + Math.max(0, now - updatedAt) * perMilli)
        updatedAt = now
        tokens -= count
        return tokens >= 0
          ? Effect.void
          : Effect.andThen(shut(writer, transport, rateClosing), Effect.fail(limitError(rateClosing)))
      })

    return Socket.make({
      reader: Effect.map(socket.reader, (reader) => ({
        ...reader,
        pull: Effect.tap(reader.pull, (messages) => take(messages.length))
      })),
      writer: Effect.map(socket.writer, (inner) => ({
        write: (chunk) => Effect.andThen(inner.write(chunk), afterWrite),
        writeAll: (chunks) => Effect.andThen(inner.writeAll(chunks), afterWrite)
      }))
    })
  })

  const serve = <E, R>(
    scopes: ReadonlyArray<string>,
    handler: (socket: Socket.Socket, authenticated: ServerAuth.Authenticated) => Effect.Effect<void, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | R> =>
    RouteAccess.declare(auth.respond(Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const authenticated = yield* authenticateUpgrade
      const missing = Scopes.missing(authenticated.session.scopes, scopes)
      if (missing.length > 0) return yield* AuthError.insufficientScope(missing)
      const sid = authenticated.session.sid
      yield* Effect.scoped(Effect.gen(function*() {
        yield* reserve(sid, addressGroup(RequestInfo.clientAddress(request)))
        const socket = yield* request.upgrade.pipe(
          Effect.mapError(() => AuthError.invalidRequest("This endpoint needs a WebSocket upgrade"))
        )
        const transport = transportOf(request)
        const closing = yield* track(sid)
        const writer = yield* socket.writer
        const app = yield* guarded(socket, writer, transport, closing)
        const closer = Effect.flatMap(Deferred.await(closing), (closed) => shut(writer, transport, closed))
        yield* Effect.raceFirst(Effect.ignore(handler(app, authenticated)), closer)
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
