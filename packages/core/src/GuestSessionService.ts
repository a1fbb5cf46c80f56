/**
 * Guests: anonymous identities for people who have not paired, so an application can tell "the
 * same browser as before" (its drafts, its starred items) without an account.
 *
 * - The identity is an opaque random cookie value (256 bits, 43 base64url characters). The store
 *   keeps only HMAC-SHA256(pepper, "guest-session:" + value), the pepper being the
 *   `guest-session-pepper` secret (`GATEHOUSE_SECRET_GUEST_SESSION_PEPPER`; in hosted mode it must
 *   be set and is never generated). Without the pepper a stolen table finds no cookie.
 * - Every successful lookup returns a guest bearer token: signed with the keyring, `kind: guest`,
 *   24 hours. A guest token never passes as a session (the session check wants `kind: session`)
 *   and a session token never passes as a guest token.
 * - A guest unused for 30 days (`idleLifetime`) is a miss and is pruned by a background sweep, so
 *   the table stays bounded. A revoked guest is kept until then, so its cookie answers "revoked".
 * - Legacy migration: a guest token issued before the cookie (sent as `legacyToken`) re-binds its
 *   guest to a new cookie, once. Only a guest that has no cookie yet (a legacy guest, or one with
 *   no record at all: the token was the identity) can be re-bound, so the token that every lookup
 *   hands to scripts cannot move a cookie guest to another browser. Concurrent requests with the
 *   same legacy token: the store lets exactly one bind; the others, within `legacyRaceWindow`
 *   (10 s) of that bind, get the same guest without a new cookie (the winner's response sets it);
 *   later, the token is a miss. An expired, forged or spent legacy token is a miss, never an error.
 */
import { Clock, Context, Duration, Effect, Exit, Layer, Option, Redacted, Schedule, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as Durations from "./Durations.ts"
import type { StoreError } from "./Errors.ts"
import * as GuestPromotion from "./GuestPromotion.ts"
import * as GuestStore from "./GuestStore.ts"
import { hmacSha256Base64Url, randomBytes, sha256Base64Url } from "./Hashing.ts"
import { GuestId, newGuestId } from "./Ids.ts"
import * as ServerSecretStore from "./ServerSecretStore.ts"
import type { SessionInfo } from "./SessionCredentialService.ts"
import * as SessionToken from "./SessionToken.ts"
import * as SignedToken from "./SignedToken.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

export class GuestRevoked extends Schema.TaggedError<GuestRevoked>()("GuestRevoked", {}) {
  override get message(): string {
    return "This guest session has been revoked"
  }
}

export class InvalidGuestToken extends Schema.TaggedError<InvalidGuestToken>()("InvalidGuestToken", {
  /** Why, for logs only; never shown to the client. */
  reason: Schema.Literals(["Malformed", "WrongKind", "Unknown"])
}) {
  override get message(): string {
    return "The guest token is not valid"
  }
}

export class ExpiredGuestToken extends Schema.TaggedError<ExpiredGuestToken>()("ExpiredGuestToken", {}) {
  override get message(): string {
    return "The guest token has expired"
  }
}

/** The secret the cookie hashes are keyed with. */
export const pepperName = "guest-session-pepper"

/** What a guest cookie holds: 32 random bytes as base64url. Anything else is a miss, unread. */
const cookiePattern = /^[A-Za-z0-9_-]{43}$/

export interface GuestInfo {
  readonly id: GuestId
  readonly createdAt: number
  readonly lastSeenAt: number
  /** `lastSeenAt + idleLifetime`: when the guest is forgotten if not used again. */
  readonly expiresAt: number
  readonly revokedAt: number | undefined
  readonly migratedAt: number | undefined
}

export interface GuestAnswer {
  readonly guest: GuestInfo
  /** A guest bearer token (`kind: guest`) for this guest. */
  readonly token: Redacted.Redacted<string>
  /** When `token` expires. */
  readonly expiresAt: number
  /**
   * The cookie to set with the answer: the one presented (set again, so its lifetime slides), a new
   * one (a guest just created or re-bound), or `undefined` when a concurrent request re-bound this
   * guest from the same legacy token (that request's answer sets the cookie; leave it be).
   */
  readonly cookie: Redacted.Redacted<string> | undefined
  /** The guest was created by this call. */
  readonly created: boolean
}

export interface LookupOptions {
  /** A guest token from before the cookie: re-binds its guest to a new cookie, once. */
  readonly legacyToken?: Redacted.Redacted<string> | undefined
}

export type LookupError = GuestRevoked | StoreError

export interface GuestSessionServiceShape {
  /** The guest `cookie` (or the legacy token) stands for; never creates one. */
  readonly lookup: (
    cookie: Redacted.Redacted<string> | undefined,
    options?: LookupOptions
  ) => Effect.Effect<Option.Option<GuestAnswer>, LookupError>
  /** `lookup`, or a new guest with a new cookie when that finds none. */
  readonly lookupOrCreate: (
    cookie?: Redacted.Redacted<string> | undefined,
    options?: LookupOptions
  ) => Effect.Effect<GuestAnswer, LookupError>
  /** The live guest a guest token stands for (signature, kind, expiry, then the record). */
  readonly verify: (
    token: Redacted.Redacted<string>
  ) => Effect.Effect<GuestInfo, InvalidGuestToken | ExpiredGuestToken | GuestRevoked | StoreError>
  readonly get: (id: GuestId) => Effect.Effect<Option.Option<GuestInfo>, StoreError>
  /** Up to `limit` guests (default 100), newest first, revoked ones included; never a cookie. */
  readonly list: (limit?: number) => Effect.Effect<ReadonlyArray<GuestInfo>, StoreError>
  /** Ends the guest: its cookie and tokens stop working. `true` if it was live. */
  readonly revoke: (id: GuestId) => Effect.Effect<boolean, StoreError>
  /**
   * The browser of guest `id` paired as `session`: the application's `GuestPromotion.merge` runs,
   * then the guest is revoked; `true` when both happened. A failing merge is logged and the guest
   * kept (`false`), so it can be merged later. One promotion of a guest at a time per process.
   */
  readonly promote: (id: GuestId, session: SessionInfo) => Effect.Effect<boolean, StoreError>
  /** Deletes the guests unused for `idleLifetime`; returns how many. Also runs every `sweepInterval`. */
  readonly prune: Effect.Effect<number, StoreError>
  /** How long a guest lives unused: the guest cookie's `Max-Age`. */
  readonly idleLifetimeMillis: number
  /** How many cookie hashes are remembered now (at most 10 000; for tests and monitoring). */
  readonly memoryEntries: () => { readonly cookieHashes: number }
}

export class GuestSessionService extends Context.Service<GuestSessionService, GuestSessionServiceShape>()(
  "@gatehouse-auth/core/GuestSessionService"
) {}

export interface Options {
  /** Lifetime of a guest token (default 24 hours). */
  readonly tokenTtl?: Duration.Input | undefined
  /** How long a guest lives unused before it is pruned (default 30 days). */
  readonly idleLifetime?: Duration.Input | undefined
  /** Least time between two `lastSeenAt` writes of a guest (default 1 minute). */
  readonly touchInterval?: Duration.Input | undefined
  /** How often unused guests are pruned (default 1 hour). */
  readonly sweepInterval?: Duration.Input | undefined
  /** How long after a legacy re-bind a concurrent request with the same token still finds the guest (default 10 s). */
  readonly legacyRaceWindow?: Duration.Input | undefined
}

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const store = yield* GuestStore.GuestStore
  const keyring = yield* SigningKeyring.SigningKeyring
  const secrets = yield* ServerSecretStore.ServerSecretStore
  const promotion = yield* Effect.serviceOption(GuestPromotion.GuestPromotion)
  const tokenTtl = yield* Durations.toMillis("tokenTtl", options.tokenTtl, Duration.hours(24))
  const idle = yield* Durations.toMillis("idleLifetime", options.idleLifetime, Duration.days(30))
  const touchInterval = yield* Durations.toMillis("touchInterval", options.touchInterval, Duration.minutes(1))
  const sweepEvery = yield* Durations.toMillis("sweepInterval", options.sweepInterval, Duration.hours(1))
  const raceWindow = yield* Durations.toMillis("legacyRaceWindow", options.legacyRaceWindow, Duration.seconds(10))
  const pepper = Crypto.createSecretKey(Redacted.value(yield* secrets.getOrCreateRandom(pepperName, 32)))
  /** Guests being promoted by this process: a second pairing of the same browser does not merge twice. */
  const promoting = new Set<GuestId>()

  /**
   * The keyed hash of a cookie. A pure function of the cookie, so its results are remembered,
   * keyed by the cookie's SHA-256 (never the cookie itself), cleared whole at 10 000: a returning
   * browser costs one SHA-256 instead of an HMAC. The row is still read on every lookup.
   */
  const hashes = new Map<string, string>()
  const cookieHash = (cookie: string) => {
    const digest = sha256Base64Url(cookie)
    const known = hashes.get(digest)
    if (known !== undefined) return known
    const hash = hmacSha256Base64Url(pepper, `guest-session:${cookie}`)
    if (hashes.size >= 10_000) hashes.clear()
    hashes.set(digest, hash)
    return hash
  }
  const newCookie = () => Redacted.make(Buffer.from(randomBytes(32)).toString("base64url"), { label: "guest-cookie" })

  const toInfo = (record: GuestStore.GuestRecord): GuestInfo => ({
    id: record.id,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    expiresAt: record.lastSeenAt + idle,
    revokedAt: record.revokedAt,
    migratedAt: record.migratedAt
  })

  const isForgotten = (record: GuestStore.GuestRecord, now: number) => now >= record.lastSeenAt + idle

  type Found = Effect.Effect<Option.Option<GuestAnswer>, LookupError>

  const answer = (
    record: GuestStore.GuestRecord,
    now: number,
    cookie: Redacted.Redacted<string> | undefined,
    created = false
  ): GuestAnswer => ({
    guest: toInfo(record.lastSeenAt >= now ? record : { ...record, lastSeenAt: now }),
    token: SignedToken.signUnsafe(keyring, { kind: "guest", gid: record.id, iat: now, exp: now + tokenTtl }),
    expiresAt: now + tokenTtl,
    cookie,
    created
  })

  /** The answer, after moving `lastSeenAt` forward (at most once per `touchInterval`). */
  const touched = (
    record: GuestStore.GuestRecord,
    now: number,
    cookie: Redacted.Redacted<string> | undefined
  ): Found =>
    now - record.lastSeenAt >= touchInterval
      ? Effect.as(store.touch(record.id, now), Option.some(answer(record, now, cookie)))
      : Effect.sync(() => Option.some(answer(record, now, cookie)))

  const none: Found = Effect.succeed(Option.none<GuestAnswer>())

  const byCookie = (cookie: Redacted.Redacted<string>, now: number): Found => {
    const text = Redacted.value(cookie)
    if (!cookiePattern.test(text)) return none
    return Effect.flatMap(store.findByCookieHash(cookieHash(text)), (found): Found => {
      if (Option.isNone(found) || isForgotten(found.value, now)) return none
      if (found.value.revokedAt !== undefined) return Effect.fail(new GuestRevoked())
      return touched(found.value, now, cookie)
    })
  }

  /** After the store refused a bind: a concurrent bind from the same legacy token, or a spent one. */
  const afterLostBind = (id: GuestId, now: number): Found =>
    Effect.flatMap(store.get(id), (found): Found => {
      if (Option.isNone(found)) return none
      const record = found.value
      if (record.revokedAt !== undefined) return Effect.fail(new GuestRevoked())
      const recent = record.migratedAt !== undefined && now - record.migratedAt < raceWindow
      return recent ? touched(record, now, undefined) : none
    })

  const rebind = (claims: SessionToken.GuestClaims, now: number): Found =>
    Effect.gen(function*() {
      const id = GuestId.make(claims.gid)
      const cookie = newCookie()
      const hash = cookieHash(Redacted.value(cookie))
      const found = yield* store.get(id)
      if (Option.isSome(found) && found.value.revokedAt !== undefined) return yield* new GuestRevoked()
      const bound = Option.isNone(found)
        // No record: the token was the whole identity. The id is the primary key: one insert wins.
        ? yield* store.insert({
          id,
          cookieHash: hash,
          createdAt: Math.min(claims.iat, now),
          lastSeenAt: now,
          revokedAt: undefined,
          migratedAt: now
        })
        : found.value.cookieHash === undefined
        ? yield* store.bindCookie(id, hash, now)
        : false
      if (!bound) return yield* afterLostBind(id, now)
      const record = yield* store.get(id)
      return Option.map(record, (bound) => answer(bound, now, cookie))
    })

  const byLegacyToken = (legacyToken: Redacted.Redacted<string>, now: number): Found =>
    Effect.flatMap(
      SignedToken.verify(keyring, Redacted.value(legacyToken)),
      (claims) => claims === undefined || claims.kind !== "guest" || now >= claims.exp ? none : rebind(claims, now)
    )

  // A plain function, untraced: the hot path of every returning browser (`npm run bench`, guestLookup).
  const lookup = (cookie: Redacted.Redacted<string> | undefined, options: LookupOptions = {}): Found =>
    Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const found = cookie === undefined ? none : byCookie(cookie, now)
      const legacyToken = options.legacyToken
      if (legacyToken === undefined) return found
      return Effect.flatMap(found, (hit) => Option.isSome(hit) ? Effect.succeed(hit) : byLegacyToken(legacyToken, now))
    })

  const create = Effect.fn("GuestSessionService.create")(function*() {
    const now = yield* Clock.currentTimeMillis
    const cookie = newCookie()
    const record: GuestStore.GuestRecord = {
      id: newGuestId(),
      cookieHash: cookieHash(Redacted.value(cookie)),
      createdAt: now,
      lastSeenAt: now,
      revokedAt: undefined,
      migratedAt: undefined
    }
    yield* store.insert(record)
    return answer(record, now, cookie, true)
  })

  const lookupOrCreate = (cookie?: Redacted.Redacted<string> | undefined, options: LookupOptions = {}) =>
    Effect.flatMap(lookup(cookie, options), Option.match({ onNone: create, onSome: Effect.succeed }))

  const verify = Effect.fn("GuestSessionService.verify")(function*(token: Redacted.Redacted<string>) {
    const now = yield* Clock.currentTimeMillis
    const claims = yield* SignedToken.verify(keyring, Redacted.value(token))
    if (claims === undefined) return yield* new InvalidGuestToken({ reason: "Malformed" })
    if (claims.kind !== "guest") return yield* new InvalidGuestToken({ reason: "WrongKind" })
    if (now >= claims.exp) return yield* new ExpiredGuestToken()
    const found = yield* store.get(GuestId.make(claims.gid))
    if (Option.isNone(found)) return yield* new InvalidGuestToken({ reason: "Unknown" })
    if (found.value.revokedAt !== undefined) return yield* new GuestRevoked()
    if (isForgotten(found.value, now)) return yield* new ExpiredGuestToken()
    return toInfo(found.value)
  })

  const revoke = Effect.fn("GuestSessionService.revoke")(function*(id: GuestId) {
    return yield* store.revoke(id, yield* Clock.currentTimeMillis)
  })

  const merge = (id: GuestId, session: SessionInfo) =>
    Option.match(promotion, {
      onNone: () => Effect.succeed(true),
      onSome: (hook) =>
        Effect.flatMap(Effect.exit(Effect.suspend(() => hook.merge(id, session))), (exit) =>
          Exit.isSuccess(exit)
            ? Effect.succeed(true)
            : Effect.as(
              Effect.logWarning(`Merging guest ${id} into the new session failed; the guest is kept`, exit.cause),
              false
            ))
    })

  const promote = Effect.fn("GuestSessionService.promote")(function*(id: GuestId, session: SessionInfo) {
    if (promoting.has(id)) return false
    promoting.add(id)
    return yield* Effect.gen(function*() {
      const found = yield* store.get(id)
      if (Option.isNone(found) || found.value.revokedAt !== undefined) return false
      if (!(yield* merge(id, session))) return false
      yield* revoke(id)
      return true
    }).pipe(Effect.ensuring(Effect.sync(() => promoting.delete(id))))
  })

  const prune = Effect.flatMap(Clock.currentTimeMillis, (now) => store.prune(now - idle))

  yield* prune.pipe(
    Effect.catch((error) => Effect.logWarning("Guest sweep failed", error.message)),
    Effect.repeat(Schedule.spaced(Duration.millis(sweepEvery))),
    Effect.delay(Duration.millis(sweepEvery)),
    Effect.forkScoped
  )

  return GuestSessionService.of({
    lookup,
    lookupOrCreate,
    verify,
    get: (id) => Effect.map(store.get(id), Option.map(toInfo)),
    list: (limit = 100) => Effect.map(store.list(limit), (records) => records.map(toInfo)),
    revoke,
    promote,
    prune,
    idleLifetimeMillis: idle,
    memoryEntries: () => ({ cookieHashes: hashes.size })
  })
})

/** The service over the `GuestStore`, `SigningKeyring` and `ServerSecretStore` provided (and `GuestPromotion` if any). */
export const layer = (options: Options = {}) => Layer.effect(GuestSessionService, make(options))

/**
 * `layer` with `idleLifetime` from `GATEHOUSE_GUEST_IDLE_LIFETIME` (a duration such as `30 days`
 * or `12h`; see `Durations`) when set; an explicit option wins.
 */
export const layerConfig = (options: Options = {}) =>
  Layer.effect(
    GuestSessionService,
    Effect.flatMap(Durations.config("GATEHOUSE_GUEST_IDLE_LIFETIME"), (idleLifetime) =>
      make({ ...options, idleLifetime: options.idleLifetime ?? Option.getOrUndefined(idleLifetime) }))
  )

/** The service with guests in memory. */
export const layerMemory = (options: Options & GuestStore.MemoryOptions = {}) =>
  layer(options).pipe(Layer.provide(GuestStore.layerMemory(options)))
