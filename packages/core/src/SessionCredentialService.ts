/**
 * Sessions: a signed token (see `SessionToken`) plus a record in the `SessionStore`.
 *
 * Expiry is idle and absolute at once: `expiresAt = min(lastSeenAt + idle, createdAt + absolute)`,
 * with lifetimes by transport: a cookie session 7 days idle and 30 days absolute, a bearer session
 * (a paired device or a CLI that holds its token and cannot keep a cookie, so pairing again costs
 * its person a new code) 30 days idle and 90 days absolute. A verified session slides
 * `lastSeenAt`, written at most once per `touchInterval` (1 minute) per session so a busy client
 * does not turn every request into a write.
 *
 * Sessions of one `method` may have their own lifetimes (`methodLifetimes`), which win over their
 * transport's: the `oauth` sessions, the grants of the OAuth authorization server, live 30 days idle
 * and 90 days at most by default.
 *
 * WebSocket tickets are single-use tokens of kind `ws-ticket`, valid 60 seconds and bound to their
 * session: revoking the session invalidates them. A ticket is never a session and a session never
 * a ticket.
 */
import {
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Option,
  PubSub,
  Redacted,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import * as ClientMetadata from "./ClientMetadata.ts"
import * as Durations from "./Durations.ts"
import { InvalidRequest, type StoreError } from "./Errors.ts"
import { randomId, sha256Base64Url } from "./Hashing.ts"
import { isSubject, newSessionId, type SessionId, subjectProblem } from "./Ids.ts"
import * as Scopes from "./Scopes.ts"
import * as SessionStore from "./SessionStore.ts"
import * as SessionToken from "./SessionToken.ts"
import * as SignedToken from "./SignedToken.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

export class InvalidSessionToken extends Schema.TaggedError<InvalidSessionToken>()("InvalidSessionToken", {
  /** Why, for logs only; never shown to the client. */
  reason: Schema.Literals(["Malformed", "BadSignature", "WrongKind", "Unknown", "Replayed"])
}) {
  override get message(): string {
    return "The session credential is not valid"
  }
}

export class ExpiredSessionToken extends Schema.TaggedError<ExpiredSessionToken>()("ExpiredSessionToken", {}) {
  override get message(): string {
    return "The session has expired"
  }
}

export type VerifyError = InvalidSessionToken | ExpiredSessionToken | StoreError

type ClaimsOf<K extends SessionToken.Claims["kind"]> = Extract<SessionToken.Claims, { readonly kind: K }>

export interface SessionInfo extends SessionStore.SessionRecord {
  /** `min(lastSeenAt + idle, createdAt + absolute)`: when the session dies if not used again. */
  readonly expiresAt: number
  /** `createdAt + absolute`: when the session dies however much it is used. */
  readonly absoluteExpiresAt: number
  /** Has at least one live WebSocket connection on this instance. */
  readonly connected: boolean
}

export interface IssueInput {
  readonly subject: string
  readonly scopes: ReadonlyArray<string>
  readonly method: string
  /** How the token is carried (default `cookie`, whose lifetimes are the shorter ones). */
  readonly transport?: SessionStore.Transport | undefined
  readonly client?: ClientMetadata.ClientMetadata | undefined
  /** Binds the session to this DPoP key thumbprint (see `SessionStore.SessionRecord.jkt`). */
  readonly jkt?: string | undefined
}

export type SessionChange =
  | { readonly _tag: "Issued"; readonly session: SessionInfo }
  | { readonly _tag: "Revoked"; readonly sid: SessionId }

/**
 * What else a revoke ends: given the ids of sessions just revoked, revokes what they made (the
 * pairing links of `BootstrapCredentialService`, the MCP credentials of `McpSessionLink`).
 */
export type RevocationCascade = (
  sids: ReadonlyArray<SessionId>,
  /** `expired`: the records were pruned because they expired; `revoked`: someone revoked them. */
  reason: "revoked" | "expired"
) => Effect.Effect<void, StoreError>

export interface SessionCredentialServiceShape {
  readonly issue: (input: IssueInput) => Effect.Effect<
    { readonly token: Redacted.Redacted<string>; readonly session: SessionInfo },
    InvalidRequest | StoreError
  >
  readonly verify: (token: Redacted.Redacted<string>) => Effect.Effect<SessionInfo, VerifyError>
  readonly get: (sid: SessionId) => Effect.Effect<Option.Option<SessionInfo>, StoreError>
  /** Which of `sids` are live sessions (not revoked, not expired), in one store round trip. */
  readonly liveAmong: (sids: ReadonlyArray<SessionId>) => Effect.Effect<ReadonlySet<SessionId>, StoreError>
  /** Live sessions, oldest first; never tokens. Expired records are pruned on the way. */
  readonly list: Effect.Effect<ReadonlyArray<SessionInfo>, StoreError>
  readonly revoke: (sid: SessionId) => Effect.Effect<boolean, StoreError>
  /** Revokes every session except `sid`; returns how many were revoked. */
  readonly revokeAllExcept: (sid: SessionId) => Effect.Effect<number, StoreError>
  readonly changes: Stream.Stream<SessionChange>
  /**
   * Adds `cascade` to every revoke this service makes (`revoke`, `revokeAllExcept`, an expired
   * record pruned), for the lifetime of the current scope. It runs after the records are gone and
   * before the revoke returns, so whatever a session made is ended by the time its revoke answers;
   * a cascade that fails fails the revoke (every cascade still runs). This is the one place the
   * cascade lives: routes, the CLI and application code all revoke through this service. A revoke
   * made elsewhere (another process on the same store) runs no cascade here; each dependent
   * checks its creator's liveness as a backstop (see docs/security-model.md, "Revocation").
   */
  readonly addRevocationCascade: (cascade: RevocationCascade) => Effect.Effect<void, never, Scope.Scope>
  readonly markConnected: (sid: SessionId) => Effect.Effect<void>
  readonly markDisconnected: (sid: SessionId) => Effect.Effect<void>
  /**
   * A single-use ticket for one WebSocket upgrade. It carries `scopes` (default: the session's
   * stored scopes now), and the socket gets no more than those: pass the scopes of the request
   * that asked for it, so a ticket never reaches further than the token that made it.
   */
  readonly issueWebSocketTicket: (sid: SessionId, scopes?: ReadonlyArray<string>) => Effect.Effect<
    { readonly ticket: Redacted.Redacted<string>; readonly expiresAt: number },
    VerifyError
  >
  /** Uses a ticket (once) and returns its session. */
  readonly consumeWebSocketTicket: (ticket: Redacted.Redacted<string>) => Effect.Effect<SessionInfo, VerifyError>
  /**
   * Entries held in this process's memory, per table (for tests and metrics): `verifiedTokens`
   * (at most `maxCachedTokens`), `touchThrottle` (at most `maxCachedTokens`), `connectedSessions`
   * (at most the open connections).
   */
  readonly memoryEntries: () => MemoryEntries
}

export interface MemoryEntries {
  readonly verifiedTokens: number
  readonly touchThrottle: number
  readonly connectedSessions: number
}

/**
 * The most entries of each in-memory cache (verified tokens, last touch per session); a cache at
 * the cap is cleared whole: O(1), and what it held is only recomputed (an HMAC, one extra write).
 */
export const maxCachedTokens = 10_000

/**
 * How long a token's verified signature is remembered. Revocation is not cached at all (the
 * store is read on every request), so this bounds only how long a key withdrawn from the keyring
 * by another process keeps verifying tokens this process has seen.
 */
export const reverifyAfter = Duration.minutes(1)

export class SessionCredentialService extends Context.Service<
  SessionCredentialService,
  SessionCredentialServiceShape
>()("@gatehouse-auth/core/SessionCredentialService") {}

export interface Options {
  /** A cookie session's idle timeout (default 7 days) and absolute lifetime (default 30 days). */
  readonly idleTimeout?: Duration.Input | undefined
  readonly absoluteLifetime?: Duration.Input | undefined
  /** A bearer session's idle timeout (default 30 days) and absolute lifetime (default 90 days). */
  readonly bearerIdleTimeout?: Duration.Input | undefined
  readonly bearerAbsoluteLifetime?: Duration.Input | undefined
  readonly touchInterval?: Duration.Input | undefined
  readonly ticketTtl?: Duration.Input | undefined
  /** How often expired records are swept from the store (default 1 hour). */
  readonly sweepInterval?: Duration.Input | undefined
  /**
   * Lifetimes of the sessions of one `method` instead of their transport's. By
   * default the `oauth` sessions (the grants of the OAuth authorization server, which no browser
   * holds) live 30 days idle and 90 days at most.
   */
  readonly methodLifetimes?:
    | Readonly<
      Record<string, { readonly idleTimeout?: Duration.Input | undefined; readonly absoluteLifetime?: Duration.Input }>
    >
    | undefined
}

interface Lifetimes {
  readonly idle: number
  readonly absolute: number
}

/** The lifetimes of the `oauth` sessions unless `methodLifetimes` says otherwise. */
export const oauthLifetimes = { idleTimeout: Duration.days(30), absoluteLifetime: Duration.days(90) } as const

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const store = yield* SessionStore.SessionStore
  const keyring = yield* SigningKeyring.SigningKeyring
  const byTransport: Record<SessionStore.Transport, Lifetimes> = {
    cookie: {
      idle: yield* Durations.toMillis("idleTimeout", options.idleTimeout, Duration.days(7)),
      absolute: yield* Durations.toMillis("absoluteLifetime", options.absoluteLifetime, Duration.days(30))
    },
    bearer: {
      idle: yield* Durations.toMillis("bearerIdleTimeout", options.bearerIdleTimeout, Duration.days(30)),
      absolute: yield* Durations.toMillis("bearerAbsoluteLifetime", options.bearerAbsoluteLifetime, Duration.days(90))
    }
  }
  const touchInterval = yield* Durations.toMillis("touchInterval", options.touchInterval, Duration.minutes(1))
  const ticketTtl = yield* Durations.toMillis("ticketTtl", options.ticketTtl, Duration.seconds(60))
  const sweepEvery = yield* Durations.toMillis("sweepInterval", options.sweepInterval, Duration.hours(1))
  const byMethod = new Map<string, Lifetimes>()
  for (const [method, given] of Object.entries({ oauth: oauthLifetimes, ...options.methodLifetimes })) {
    byMethod.set(method, {
      idle: yield* Durations.toMillis(`${method} idleTimeout`, given.idleTimeout, Duration.days(7)),
      absolute: yield* Durations.toMillis(`${method} absoluteLifetime`, given.absoluteLifetime, Duration.days(30))
    })
  }
  // A method's own lifetimes first (the OAuth grants), then the transport's; a record of a transport
  // this version does not know gets the shorter, cookie lifetimes.
  const lifetimeOf = (record: SessionStore.SessionRecord): Lifetimes =>
    byMethod.get(record.method) ?? byTransport[record.transport] ?? byTransport.cookie
  const changes = yield* PubSub.unbounded<SessionChange>()
  /** Last `lastSeenAt` write per session from this process, so concurrent requests write once. */
  const lastWrite = new Map<SessionId, number>()
  const connections = new Map<SessionId, number>()

  const expiresAt = (record: SessionStore.SessionRecord) => {
    const { absolute, idle } = lifetimeOf(record)
    return Math.min(record.lastSeenAt + idle, record.createdAt + absolute)
  }

  const toInfo = (record: SessionStore.SessionRecord): SessionInfo => ({
    ...record,
    expiresAt: expiresAt(record),
    absoluteExpiresAt: record.createdAt + lifetimeOf(record).absolute,
    connected: (connections.get(record.sid) ?? 0) > 0
  })

  const forget = (sid: SessionId) => {
    lastWrite.delete(sid)
  }
  /** Records a `lastSeenAt` write; the throttle forgets everything at the cap (one extra write each). */
  const wrote = (sid: SessionId, at: number) => {
    if (lastWrite.size >= maxCachedTokens && !lastWrite.has(sid)) lastWrite.clear()
    lastWrite.set(sid, at)
  }

  const cascades = new Set<RevocationCascade>()

  const addRevocationCascade = (cascade: RevocationCascade) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        // Wrapped, so the same function added twice is two registrations, each removed with its scope.
        const registered: RevocationCascade = (sids, reason) => cascade(sids, reason)
        cascades.add(registered)
        return registered
      }),
      (registered) => Effect.sync(() => cascades.delete(registered))
    ).pipe(Effect.asVoid)

  /** Runs every cascade for `sids`; each runs even if another fails, then the first failure wins. */
  const cascade = (sids: ReadonlyArray<SessionId>, reason: "revoked" | "expired") =>
    sids.length === 0 || cascades.size === 0
      ? Effect.void
      : Effect.flatMap(
        Effect.forEach([...cascades], (each) => Effect.exit(each(sids, reason))),
        (exits) => Exit.asVoidAll(exits)
      )

  const removeWith = (reason: "revoked" | "expired") =>
    Effect.fn("SessionCredentialService.revoke")(function*(sid: SessionId) {
      const removed = yield* store.remove(sid)
      forget(sid)
      if (removed) {
        yield* PubSub.publish(changes, { _tag: "Revoked", sid })
        yield* cascade([sid], reason)
      }
      return removed
    })
  const revoke = removeWith("revoked")
  /** An expired record pruned: the same as a revoke, but the cascades hear `expired`. */
  const expire = removeWith("expired")

  const sign = (claims: SessionToken.Claims) => SignedToken.sign(keyring, claims)

  /**
   * Tokens whose HMAC matched recently, with their claims, keyed by the SHA-256 of the whole
   * token. A browser sends the same cookie with every request: a hit skips the HMAC and the JSON.
   * Only a token that verified is ever entered, so a forged or altered token always takes the full
   * path; lookup compares digests, never the token itself. An entry counts for `reverifyAfter`
   * (1 minute), after which the token is checked in full again (a key withdrawn from the keyring
   * stops working within that time). Only the signature is remembered: the session record is read
   * on every request, so a revocation by any process on the store holds at the next request.
   * Bounded: cleared whole at `maxCachedTokens` entries.
   */
  const verified = new Map<string, { readonly claims: SessionToken.Claims; readonly until: number }>()
  const reverifyMillis = Duration.toMillis(reverifyAfter)

  /**
   * The claims of a token, from the cache or by parsing it and checking its HMAC against the keys
   * in memory; `{ reload }` when its key id is not loaded (the caller asks the keyring, which may
   * reload).
   */
  const claimsOf = (
    text: string,
    now: number
  ): SessionToken.Claims | InvalidSessionToken | {
    readonly reload: SessionToken.ParsedToken
    readonly digest: string
  } => {
    if (text.length > SessionToken.maxLength) return new InvalidSessionToken({ reason: "Malformed" })
    const digest = sha256Base64Url(text)
    const hit = verified.get(digest)
    if (hit !== undefined && now < hit.until) return hit.claims
    const parsed = SessionToken.parse(text)
    if (parsed === undefined) return new InvalidSessionToken({ reason: "Malformed" })
    const valid = keyring.verifyUnsafe(parsed.kid, parsed.signingInput, parsed.signature, now)
    return valid === undefined ? { reload: parsed, digest } : afterSignature(parsed, digest, valid, now)
  }

  const afterSignature = (parsed: SessionToken.ParsedToken, digest: string, valid: boolean, now: number) => {
    if (!valid) return new InvalidSessionToken({ reason: "BadSignature" })
    const claims = SessionToken.decodeClaims(parsed.payload)
    if (claims === undefined) return new InvalidSessionToken({ reason: "Malformed" })
    if (verified.size >= maxCachedTokens) verified.clear()
    verified.set(digest, { claims, until: now + reverifyMillis })
    return claims
  }

  /** Claims of `kind` that have not passed `exp`, or the error to fail with. */
  const decide = <K extends SessionToken.Claims["kind"]>(
    claims: SessionToken.Claims | InvalidSessionToken,
    kind: K,
    now: number
  ): ClaimsOf<K> | InvalidSessionToken | ExpiredSessionToken => {
    if (claims instanceof InvalidSessionToken) return claims
    if (claims.kind !== kind) return new InvalidSessionToken({ reason: "WrongKind" })
    return now >= claims.exp ? new ExpiredSessionToken() : claims as ClaimsOf<K>
  }

  /** The live record of `sid` at `now`, sliding `lastSeenAt` (throttled); fails if gone or expired. */
  /**
   * The session as this token may use it: its stored scopes, but only those the token was signed
   * with. A write to a shared database can narrow a live token (a scope removed from the record is
   * gone at once) but never widen it. The usual case, stored and signed alike, returns `info` as is.
   */
  const signedOnly = (signed: ReadonlyArray<string>) => (info: SessionInfo): SessionInfo =>
    info.scopes.every((scope) => signed.includes(scope))
      ? info
      : { ...info, scopes: info.scopes.filter((scope) => signed.includes(scope)) }

  const liveSession = (sid: SessionId, now: number): Effect.Effect<SessionInfo, VerifyError> =>
    Effect.flatMap(store.get(sid), (found): Effect.Effect<SessionInfo, VerifyError> => {
      if (Option.isNone(found)) {
        forget(sid)
        return Effect.fail(new InvalidSessionToken({ reason: "Unknown" }))
      }
      const record = found.value
      if (now >= expiresAt(record)) {
        return Effect.andThen(expire(sid), Effect.fail(new ExpiredSessionToken()))
      }
      const seen = Math.max(record.lastSeenAt, lastWrite.get(sid) ?? 0)
      if (now - seen < touchInterval) return Effect.succeed(toInfo(record))
      wrote(sid, now)
      return Effect.as(store.touch(sid, now), toInfo({ ...record, lastSeenAt: now }))
    })

  /**
   * Authenticates a token of `kind` at the current time (structure, signature, claims, `exp`), then
   * runs `next`. The usual case is synchronous; an unknown key id goes through `keyring.verify`,
   * which may reload the keyring.
   */
  const check = <K extends SessionToken.Claims["kind"], A>(
    token: Redacted.Redacted<string>,
    kind: K,
    next: (claims: ClaimsOf<K>, now: number) => Effect.Effect<A, VerifyError>
  ): Effect.Effect<A, VerifyError> =>
    Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const proceed = (claims: SessionToken.Claims | InvalidSessionToken) => {
        const outcome = decide(claims, kind, now)
        return outcome instanceof InvalidSessionToken || outcome instanceof ExpiredSessionToken
          ? Effect.fail(outcome)
          : next(outcome, now)
      }
      const found = claimsOf(Redacted.value(token), now)
      if (!("reload" in found)) return proceed(found)
      const { digest, reload: parsed } = found
      return Effect.flatMap(
        keyring.verify(parsed.kid, parsed.signingInput, parsed.signature),
        (valid) => proceed(afterSignature(parsed, digest, valid, now))
      )
    })

  const verify = (token: Redacted.Redacted<string>) =>
    check(token, "session", (claims, now) => Effect.map(liveSession(claims.sid, now), signedOnly(claims.scopes)))

  const issue = Effect.fn("SessionCredentialService.issue")(function*(input: IssueInput) {
    if (!isSubject(input.subject)) {
      return yield* new InvalidRequest({ message: subjectProblem })
    }
    if (!Scopes.isScopes(input.scopes)) return yield* new InvalidRequest({ message: Scopes.problem })
    if (!/^[a-z][a-z0-9_-]{0,63}$/.test(input.method)) {
      return yield* new InvalidRequest({ message: "method must be a short lower-case word" })
    }
    const now = yield* Clock.currentTimeMillis
    const record: SessionStore.SessionRecord = {
      sid: newSessionId(),
      subject: input.subject,
      scopes: [...new Set(input.scopes)],
      method: input.method,
      transport: input.transport ?? "cookie",
      createdAt: now,
      lastSeenAt: now,
      client: ClientMetadata.clip(input.client),
      ...(input.jkt === undefined ? {} : { jkt: input.jkt })
    }
    yield* store.insert(record)
    const token = yield* sign({
      kind: "session",
      sid: record.sid,
      sub: record.subject,
      scopes: record.scopes,
      method: record.method,
      iat: now,
      exp: now + lifetimeOf(record).absolute
    })
    const session = toInfo(record)
    yield* PubSub.publish(changes, { _tag: "Issued", session })
    return { token, session }
  })

  const live = (now: number) => (record: SessionStore.SessionRecord) => now < expiresAt(record)

  const list = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const records = yield* store.list
    yield* Effect.forEach(records.filter((record) => !live(now)(record)), (record) => expire(record.sid), {
      discard: true
    })
    return records.filter(live(now)).sort((a, b) => a.createdAt - b.createdAt).map(toInfo)
  })

  // Untraced: every request with an access token reads its session through here.
  const get = (sid: SessionId) =>
    Clock.clockWith((clock) =>
      Effect.map(
        store.get(sid),
        (found) => Option.map(Option.filter(found, live(clock.currentTimeMillisUnsafe())), toInfo)
      )
    )

  const liveAmong = Effect.fn("SessionCredentialService.liveAmong")(function*(sids: ReadonlyArray<SessionId>) {
    if (sids.length === 0) return new Set<SessionId>()
    const now = yield* Clock.currentTimeMillis
    return new Set((yield* store.getMany(sids)).filter(live(now)).map((record) => record.sid))
  })

  const revokeAllExcept = Effect.fn("SessionCredentialService.revokeAllExcept")(function*(sid: SessionId) {
    const removed = yield* store.removeAllExcept(sid)
    for (const id of removed) {
      forget(id)
      yield* PubSub.publish(changes, { _tag: "Revoked", sid: id })
    }
    yield* cascade(removed, "revoked")
    return removed.length
  })

  const issueWebSocketTicket = Effect.fn("SessionCredentialService.issueWebSocketTicket")(function*(
    sid: SessionId,
    scopes?: ReadonlyArray<string>
  ) {
    const now = yield* Clock.currentTimeMillis
    const session = yield* liveSession(sid, now)
    const expiresAt = now + ticketTtl
    const ticket = yield* sign({
      kind: "ws-ticket",
      sid,
      scopes: scopes === undefined ? session.scopes : signedOnly(scopes)(session).scopes,
      jti: randomId(),
      iat: now,
      exp: expiresAt
    })
    return { ticket, expiresAt }
  })

  const consumeWebSocketTicket = (ticket: Redacted.Redacted<string>) =>
    check(
      ticket,
      "ws-ticket",
      (claims, now) =>
        Effect.flatMap(
          store.consumeTicket(claims.jti, claims.exp, now),
          (first) =>
            first
              ? Effect.map(liveSession(claims.sid, now), signedOnly(claims.scopes))
              : Effect.fail(new InvalidSessionToken({ reason: "Replayed" }))
        )
    )

  const markConnected = (sid: SessionId) =>
    Effect.sync(() => void connections.set(sid, (connections.get(sid) ?? 0) + 1))
  const markDisconnected = (sid: SessionId) =>
    Effect.sync(() => {
      const count = (connections.get(sid) ?? 0) - 1
      if (count > 0) connections.set(sid, count)
      else connections.delete(sid)
    })

  yield* list.pipe(
    Effect.catch((error) => Effect.logWarning("Session sweep failed", error.message)),
    Effect.repeat(Schedule.spaced(Duration.millis(sweepEvery))),
    Effect.delay(Duration.millis(sweepEvery)),
    Effect.forkScoped
  )

  return SessionCredentialService.of({
    issue,
    verify,
    get,
    liveAmong,
    list,
    revoke,
    revokeAllExcept,
    changes: Stream.fromPubSub(changes),
    addRevocationCascade,
    markConnected,
    markDisconnected,
    issueWebSocketTicket,
    consumeWebSocketTicket,
    memoryEntries: () => ({
      verifiedTokens: verified.size,
      touchThrottle: lastWrite.size,
      connectedSessions: connections.size
    })
  })
})

/** The service over whatever `SessionStore` and `SigningKeyring` are provided. */
export const layer = (options: Options = {}) => Layer.effect(SessionCredentialService, make(options))

/** The service with sessions in memory. */
/**
 * `layer`, with the lifetimes the options leave out read from `GATEHOUSE_SESSION_IDLE_TIMEOUT`,
 * `GATEHOUSE_SESSION_ABSOLUTE_LIFETIME` (cookie sessions), `GATEHOUSE_BEARER_SESSION_IDLE_TIMEOUT`
 * and `GATEHOUSE_BEARER_SESSION_ABSOLUTE_LIFETIME` (bearer sessions) when set.
 */
export const layerConfig = (options: Options = {}) =>
  Layer.effect(
    SessionCredentialService,
    Effect.gen(function*() {
      const read = (name: string) => Effect.map(Durations.config(name), Option.getOrUndefined)
      return yield* make({
        ...options,
        idleTimeout: options.idleTimeout ?? (yield* read("GATEHOUSE_SESSION_IDLE_TIMEOUT")),
        absoluteLifetime: options.absoluteLifetime ?? (yield* read("GATEHOUSE_SESSION_ABSOLUTE_LIFETIME")),
        bearerIdleTimeout: options.bearerIdleTimeout ?? (yield* read("GATEHOUSE_BEARER_SESSION_IDLE_TIMEOUT")),
        bearerAbsoluteLifetime: options.bearerAbsoluteLifetime ??
          (yield* read("GATEHOUSE_BEARER_SESSION_ABSOLUTE_LIFETIME"))
      })
    })
  )

export const layerMemory = (options: Options = {}) => layer(options).pipe(Layer.provide(SessionStore.layerMemory))
