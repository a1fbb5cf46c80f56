/**
 * Per-agent-thread bearer credentials for MCP endpoints. An agent process gets its credential
 * once, as a static `Authorization` header baked into its configuration, and cannot refresh it;
 * so a credential in use keeps sliding forward, and one that goes quiet dies.
 *
 * - `issue` revokes the thread's earlier credential and mints a new one: 32 random bytes as
 *   base64url (43 characters). Only SHA-256 of the token is kept (as the map key); the token
 *   itself leaves in a `Redacted` header value and is never stored.
 * - `resolve(token)` is the per-request check. A credential is dead once it has not been used for
 *   `idleTimeout` (default 30 minutes) or once `expiresAt` passes. Each successful resolve sets
 *   `lastUsedAt = now` and slides `expiresAt = max(expiresAt, now + maxLifetime)` (default 30 days),
 *   but never past `createdAt + absoluteLifetime` (default 90 days): however busy, a credential
 *   dies at that cap.
 * - Each credential has an opaque id (`mcp_` and 96 random bits, not derived from the token) that
 *   lists show and `revoke` takes, and records the session that asked for it (`sessionId`), if any:
 *   `revokeSessions` ends a session's credentials (`McpSessionLink` calls it when sessions are
 *   revoked). The registry itself knows nothing of sessions.
 * - Dead entries are pruned when presented, by an amortised sweep on `issue` (so memory stays
 *   within about twice the live set), and by a background fiber in the layer's scope. Closing
 *   that scope revokes every credential.
 *
 * Everything here is in process memory on purpose: a credential is worth nothing after a restart
 * (the agent processes it was handed to are restarted with new ones).
 */
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import * as Durations from "./Durations.ts"
import { InvalidRequest, type StoreError } from "./Errors.ts"
import { randomId, sha256Base64Url } from "./Hashing.ts"
import { type McpCredentialId, newMcpCredentialId, type SessionId } from "./Ids.ts"
import { type McpCredentialRecord as McpCredentialStoreRecord, McpCredentialStore } from "./McpCredentialStore.ts"
import { type EndpointConfig, validEndpoint } from "./McpEndpoint.ts"
import * as Scopes from "./Scopes.ts"

/** Who a credential speaks for. `capabilities` are scopes (see docs/decisions.md, "MCP credentials"). */
export interface McpPrincipal {
  readonly threadId: string
  readonly providerInstanceId: string
  /** Scopes (`Scopes` grammar) the MCP server may grant this agent beyond reaching its endpoint. */
  readonly capabilities: ReadonlyArray<string>
  /**
   * Present when the caller is an OAuth client (an access token of `OAuthAuthorizationServer`)
   * rather than a per-thread credential: which client, approved by whom. Its `threadId` is then
   * `oauth:<grant id>`, its `providerInstanceId` the `client_id`, its capabilities the granted scopes.
   */
  readonly oauth?: {
    readonly clientId: string
    readonly clientName: string
    readonly grantId: string
    readonly subject: string
  } | undefined
}

/** A live credential as callers see it: never the token, never its hash. */
export interface McpCredentialInfo extends McpPrincipal {
  readonly id: McpCredentialId
  /** The session that asked for it (revoking that session revokes it), if one did. */
  readonly createdBy: SessionId | undefined
  readonly createdAt: number
  readonly lastUsedAt: number
  /**
   * `min(sliding max-lifetime deadline, absoluteExpiresAt)`; the credential also dies after
   * `idleTimeout` unused.
   */
  readonly expiresAt: number
  /** `createdAt + absoluteLifetime`: when it dies however much it is used. */
  readonly absoluteExpiresAt: number
}

export interface IssueInput {
  readonly threadId: string
  readonly providerInstanceId: string
  /** Default: the layer's `defaultCapabilities` (itself `[]` unless configured). */
  readonly capabilities?: ReadonlyArray<string> | undefined
  /** The session asking (the HTTP route passes the caller's); `revokeSessions` ends its credentials. */
  readonly sessionId?: SessionId | undefined
}

export interface IssuedMcpCredential {
  readonly endpoint: string
  /** `Bearer <token>`, to be set verbatim as the agent's `Authorization` header. */
  readonly authorizationHeader: Redacted.Redacted<string>
  readonly expiresAt: number
  readonly credential: McpCredentialInfo
}

export class TooManyMcpCredentials extends Schema.TaggedError<TooManyMcpCredentials>()("TooManyMcpCredentials", {
  limit: Schema.Number
}) {
  override get message(): string {
    return `Too many live MCP credentials (at most ${this.limit}); revoke some first`
  }
}

export interface McpSessionRegistryShape {
  /** The endpoint URL handed out with every credential. */
  readonly endpoint: string
  readonly issue: (
    input: IssueInput
  ) => Effect.Effect<IssuedMcpCredential, InvalidRequest | TooManyMcpCredentials | StoreError>
  /**
   * The principal of a live credential, sliding its lifetime; `None` for anything else. Total for
   * any input: accepts the bare token (not the `Bearer ` header) as a string or `Redacted`.
   */
  readonly resolve: (
    token: string | Redacted.Redacted<string>
  ) => Effect.Effect<Option.Option<McpPrincipal>, StoreError>
  /** Revokes the credential with this id; `false` when there is none. */
  readonly revoke: (id: McpCredentialId) => Effect.Effect<boolean, StoreError>
  /** Each returns how many credentials it revoked. */
  readonly revokeThread: (threadId: string) => Effect.Effect<number, StoreError>
  readonly revokeProviderSession: (providerInstanceId: string) => Effect.Effect<number, StoreError>
  /** The credentials issued for any of `sids` (what revoking those sessions ends). */
  readonly revokeSessions: (sids: Iterable<SessionId>) => Effect.Effect<number, StoreError>
  readonly revokeAll: Effect.Effect<number, StoreError>
  /**
   * The distinct sessions credentials were issued for, dead credentials not yet pruned included:
   * what `McpSessionLink` checks for liveness. O(sessions), not O(credentials).
   */
  readonly sessionIds: Effect.Effect<ReadonlyArray<SessionId>, StoreError>
  /** Live credentials, oldest first (dead ones are pruned on the way). */
  readonly list: Effect.Effect<ReadonlyArray<McpCredentialInfo>, StoreError>
  readonly count: Effect.Effect<number, StoreError>
}

export class McpSessionRegistry extends Context.Service<McpSessionRegistry, McpSessionRegistryShape>()(
  "@gatehouse-auth/core/McpSessionRegistry"
) {}

/** What the registry holds per credential, keyed by the token's SHA-256. */
export interface StoredCredential {
  readonly id: McpCredentialId
  readonly principal: McpPrincipal
  /** `Option.some(principal)`, made once: `resolve` allocates nothing per call for it. */
  readonly resolved: Option.Option<McpPrincipal>
  readonly sessionId: SessionId | undefined
  readonly createdAt: number
  /** `createdAt + absoluteLifetime`; `expiresAt` never slides past it. */
  readonly absoluteExpiresAt: number
  lastUsedAt: number
  expiresAt: number
}

/**
 * Test-only view of the registry's memory (`layerTest`): the live map itself, keyed by
 * base64url SHA-256 of the token, including dead entries not yet pruned.
 */
export interface McpSessionRegistryInspectorShape {
  readonly entries: ReadonlyMap<string, StoredCredential>
  /** Entries held, dead or alive (what memory is spent on). */
  readonly size: Effect.Effect<number>
}

export class McpSessionRegistryInspector extends Context.Service<
  McpSessionRegistryInspector,
  McpSessionRegistryInspectorShape
>()("@gatehouse-auth/core/McpSessionRegistryInspector") {}

export interface Options {
  readonly endpoint: EndpointConfig
  /** Default 30 minutes. */
  readonly idleTimeout?: Duration.Input | undefined
  /** Default 30 days: how far each use slides the deadline. */
  readonly maxLifetime?: Duration.Input | undefined
  /** Default 90 days: from creation, the deadline no use slides past. */
  readonly absoluteLifetime?: Duration.Input | undefined
  /** How often the background fiber prunes dead entries (default 1 minute). */
  readonly sweepInterval?: Duration.Input | undefined
  /** Capabilities of a credential issued without any (default `[]`). */
  readonly defaultCapabilities?: ReadonlyArray<string> | undefined
  /** Live credentials at most (default 1 000 000, about 0.5 GB of heap); `issue` fails beyond it. */
  readonly maxCredentials?: number | undefined
}

export const defaultIdleTimeout = Duration.minutes(30)
export const defaultMaxLifetime = Duration.days(30)
export const defaultAbsoluteLifetime = Duration.days(90)
const defaultSweepInterval = Duration.minutes(1)
const defaultMaxCredentials = 1_000_000
/** 32 bytes in base64url without padding. */
const tokenLength = 43
/** Below this many entries, `issue` does not bother sweeping. */
const minimumSweepThreshold = 1024
const none: Option.Option<McpPrincipal> = Option.none()

/** The map key of a token: base64url SHA-256 of its text. */
export const hashToken = (token: string): string => sha256Base64Url(token)

/** A thread or provider instance id: 1 to 256 characters, chosen by the application. */
export const ThreadId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(256))
const validId = Schema.is(ThreadId)

const validCapabilities = (value: ReadonlyArray<string>): ReadonlyArray<string> | undefined =>
  Scopes.isScopes(value) ? Object.freeze([...new Set(value)]) : undefined

/** An issue's ids checked and its capabilities (default `fallback`), or why they cannot be used. */
const checkedCapabilities = (input: IssueInput, fallback: ReadonlyArray<string>) => {
  if (!validId(input.threadId) || !validId(input.providerInstanceId)) {
    return Effect.fail(new InvalidRequest({ message: "threadId and providerInstanceId must be 1 to 256 characters" }))
  }
  const capabilities = input.capabilities === undefined ? fallback : validCapabilities(input.capabilities)
  return capabilities === undefined
    ? Effect.fail(new InvalidRequest({ message: `capabilities: ${Scopes.problem}` }))
    : Effect.succeed(capabilities)
}

/** The options, checked and in milliseconds. */
const settingsOf = Effect.fnUntraced(function*(options: Options) {
  const idle = yield* Durations.toMillis("MCP idleTimeout", options.idleTimeout, defaultIdleTimeout)
  const maxLifetime = yield* Durations.toMillis("MCP maxLifetime", options.maxLifetime, defaultMaxLifetime)
  const absoluteLifetime = yield* Durations.toMillis(
    "MCP absoluteLifetime",
    options.absoluteLifetime,
    defaultAbsoluteLifetime
  )
  const sweepEvery = yield* Durations.toMillis("MCP sweepInterval", options.sweepInterval, defaultSweepInterval)
  const maxCredentials = options.maxCredentials ?? defaultMaxCredentials
  const defaultCapabilities = validCapabilities(options.defaultCapabilities ?? [])
  const endpoint = validEndpoint(options.endpoint)
  if (!(Number.isInteger(maxCredentials) && maxCredentials >= 1)) {
    return yield* new InvalidRequest({ message: "MCP maxCredentials must be a positive whole number" })
  }
  if (defaultCapabilities === undefined) {
    return yield* new InvalidRequest({ message: "MCP defaultCapabilities must be at most 64 valid scopes" })
  }
  if (endpoint === undefined) {
    return yield* new InvalidRequest({
      message: "The MCP endpoint needs a valid host, a port from 1 to 65535 and http(s)"
    })
  }
  return { idle, maxLifetime, absoluteLifetime, sweepEvery, maxCredentials, defaultCapabilities, endpoint }
})

const makeInternal = Effect.fnUntraced(function*(options: Options) {
  const { absoluteLifetime, defaultCapabilities, endpoint, idle, maxCredentials, maxLifetime, sweepEvery } =
    yield* settingsOf(options)

  // The Clock the layer is built with (a TestClock in tests), read synchronously: looking it up
  // per call would cost `resolve` about 15% of its throughput on the per-request path.
  const clock = yield* Clock.Clock
  const currentTime = () => clock.currentTimeMillisUnsafe()
  const entries = new Map<string, StoredCredential>()
  /** The one live credential of each thread (issue revokes the earlier one). */
  const byThread = new Map<string, string>()
  /** Map key by credential id, for `revoke(id)`. */
  const byId = new Map<McpCredentialId, string>()
  /** Map keys by the session they were issued for, for `revokeSessions` and `sessionIds`. */
  const bySession = new Map<SessionId, Set<string>>()
  /** `issue` sweeps when the map reaches this size: twice what the last sweep left (amortised O(1)). */
  let sweepThreshold = minimumSweepThreshold
  /** When a full registry last swept: at the cap, at most once a second (a sweep walks every entry). */
  let sweptAtCap = Number.NEGATIVE_INFINITY

  const isDead = (entry: StoredCredential, now: number) => now - entry.lastUsedAt >= idle || now >= entry.expiresAt

  const remove = (key: string, entry: StoredCredential) => {
    entries.delete(key)
    byId.delete(entry.id)
    if (byThread.get(entry.principal.threadId) === key) byThread.delete(entry.principal.threadId)
    if (entry.sessionId !== undefined) {
      const keys = bySession.get(entry.sessionId)
      keys?.delete(key)
      if (keys?.size === 0) bySession.delete(entry.sessionId)
    }
  }

  const removeWhere = (predicate: (entry: StoredCredential) => boolean): number => {
    let removed = 0
    for (const [key, entry] of entries) {
      if (predicate(entry)) {
        remove(key, entry)
        removed++
      }
    }
    return removed
  }

  const sweep = (now: number) => {
    removeWhere((entry) => isDead(entry, now))
    sweepThreshold = Math.max(minimumSweepThreshold, entries.size * 2)
  }

  const info = (entry: StoredCredential): McpCredentialInfo => ({
    ...entry.principal,
    id: entry.id,
    createdBy: entry.sessionId,
    createdAt: entry.createdAt,
    lastUsedAt: entry.lastUsedAt,
    expiresAt: entry.expiresAt,
    absoluteExpiresAt: entry.absoluteExpiresAt
  })

  const resolveAt = (token: unknown, now: number): Option.Option<McpPrincipal> => {
    const text = typeof token === "string" ? token : Redacted.isRedacted(token) ? Redacted.value(token) : undefined
    // Every token is 43 characters: anything else is refused before hashing, whatever its size.
    if (typeof text !== "string" || text.length !== tokenLength) return none
    const key = hashToken(text)
    const entry = entries.get(key)
    if (entry === undefined) return none
    if (isDead(entry, now)) {
      remove(key, entry)
      return none
    }
    if (now > entry.lastUsedAt) entry.lastUsedAt = now
    // Slides, but never past the absolute cap (so `isDead` needs no second deadline).
    if (now + maxLifetime > entry.expiresAt) entry.expiresAt = Math.min(now + maxLifetime, entry.absoluteExpiresAt)
    return entry.resolved
  }

  const resolve = (token: string | Redacted.Redacted<string>) => Effect.sync(() => resolveAt(token, currentTime()))

  const issue = Effect.fn("McpSessionRegistry.issue")(function*(input: IssueInput) {
    const capabilities = yield* checkedCapabilities(input, defaultCapabilities)
    const now = currentTime()
    const earlier = byThread.get(input.threadId)
    if (earlier !== undefined) remove(earlier, entries.get(earlier)!)
    if (entries.size >= sweepThreshold) sweep(now)
    else if (entries.size >= maxCredentials && now - sweptAtCap >= 1_000) {
      sweptAtCap = now
      sweep(now)
    }
    if (entries.size >= maxCredentials) return yield* new TooManyMcpCredentials({ limit: maxCredentials })

    const token = randomId(32)
    const key = hashToken(token)
    const principal: McpPrincipal = Object.freeze({
      threadId: input.threadId,
      providerInstanceId: input.providerInstanceId,
      capabilities
    })
    const entry: StoredCredential = {
      id: newMcpCredentialId(),
      principal,
      resolved: Option.some(principal),
      sessionId: input.sessionId,
      createdAt: now,
      absoluteExpiresAt: now + absoluteLifetime,
      lastUsedAt: now,
      expiresAt: Math.min(now + maxLifetime, now + absoluteLifetime)
    }
    entries.set(key, entry)
    byId.set(entry.id, key)
    byThread.set(input.threadId, key)
    if (entry.sessionId !== undefined) {
      const keys = bySession.get(entry.sessionId)
      if (keys === undefined) bySession.set(entry.sessionId, new Set([key]))
      else keys.add(key)
    }
    return {
      endpoint,
      authorizationHeader: Redacted.make(`Bearer ${token}`, { label: "mcp-authorization" }),
      expiresAt: entry.expiresAt,
      credential: info(entry)
    }
  })

  const revokeThread = (threadId: string) =>
    Effect.sync(() => {
      const key = byThread.get(threadId)
      if (key === undefined) return 0
      remove(key, entries.get(key)!)
      return 1
    })

  const revokeProviderSession = (providerInstanceId: string) =>
    Effect.sync(() => removeWhere((entry) => entry.principal.providerInstanceId === providerInstanceId))

  const revoke = (id: McpCredentialId) =>
    Effect.sync(() => {
      const key = byId.get(id)
      if (key === undefined) return false
      remove(key, entries.get(key)!)
      return true
    })

  const revokeSessions = (sids: Iterable<SessionId>) =>
    Effect.sync(() => {
      let removed = 0
      for (const sid of sids) {
        for (const key of [...(bySession.get(sid) ?? [])]) {
          remove(key, entries.get(key)!)
          removed++
        }
      }
      return removed
    })

  const sessionIds = Effect.sync(() => [...bySession.keys()])

  const revokeAll = Effect.sync(() => {
    const removed = entries.size
    entries.clear()
    byThread.clear()
    byId.clear()
    bySession.clear()
    return removed
  })

  const pruneNow = Effect.sync(() => sweep(currentTime()))

  const list = Effect.andThen(
    pruneNow,
    Effect.sync(() => [...entries.values()].map(info).sort((a, b) => a.createdAt - b.createdAt))
  )

  const count = Effect.andThen(pruneNow, Effect.sync(() => entries.size))

  yield* pruneNow.pipe(
    Effect.repeat(Schedule.spaced(Duration.millis(sweepEvery))),
    Effect.delay(Duration.millis(sweepEvery)),
    Effect.forkScoped
  )
  // On shutdown every credential dies with the process's scope, before anything else is torn down.
  yield* Effect.addFinalizer(() => Effect.asVoid(revokeAll))

  const registry = McpSessionRegistry.of({
    endpoint,
    issue,
    resolve,
    revoke,
    revokeThread,
    revokeProviderSession,
    revokeSessions,
    revokeAll,
    sessionIds,
    list,
    count
  })
  const inspector = McpSessionRegistryInspector.of({
    entries,
    size: Effect.sync(() => entries.size)
  })
  return { registry, inspector }
})

/** The registry; its background sweep and its `revokeAll` finalizer live in the layer's scope. */
export const make = (options: Options) => Effect.map(makeInternal(options), ({ registry }) => registry)

export const layer = (options: Options) => Layer.effect(McpSessionRegistry, make(options))

/**
 * `layer` with `idleTimeout` / `maxLifetime` / `absoluteLifetime` from `GATEHOUSE_MCP_IDLE_TIMEOUT` /
 * `GATEHOUSE_MCP_MAX_LIFETIME` / `GATEHOUSE_MCP_ABSOLUTE_LIFETIME` (durations such as `45m`,
 * `45 minutes`, `7 days`; see `Durations`) when set; explicit `options` win over the configuration.
 */
export const layerConfig = (options: Options) =>
  Layer.effect(McpSessionRegistry, Effect.flatMap(optionsFromConfig(options), make))

/** `options` with the lifetimes the environment sets where `options` leaves them out. */
const optionsFromConfig = (options: Options) =>
  Effect.gen(function*() {
    const idleTimeout = yield* Durations.config("GATEHOUSE_MCP_IDLE_TIMEOUT")
    const maxLifetime = yield* Durations.config("GATEHOUSE_MCP_MAX_LIFETIME")
    const absoluteLifetime = yield* Durations.config("GATEHOUSE_MCP_ABSOLUTE_LIFETIME")
    return {
      ...options,
      idleTimeout: options.idleTimeout ?? Option.getOrUndefined(idleTimeout),
      maxLifetime: options.maxLifetime ?? Option.getOrUndefined(maxLifetime),
      absoluteLifetime: options.absoluteLifetime ?? Option.getOrUndefined(absoluteLifetime)
    }
  })

/** The registry plus `McpSessionRegistryInspector`; the endpoint defaults to `127.0.0.1:3773`. */
export const layerTest = (options: Partial<Options> = {}) =>
  Layer.effectContext(
    Effect.map(
      makeInternal({ ...options, endpoint: options.endpoint ?? { host: "127.0.0.1", port: 3773 } }),
      ({ inspector, registry }) =>
        Context.make(McpSessionRegistry, registry).pipe(Context.add(McpSessionRegistryInspector, inspector))
    )
  )

/** How often a stored credential's use is written: at most once a minute per credential. */
export const storedTouchInterval = Duration.minutes(1)
const storedTouchMillis = Duration.toMillis(storedTouchInterval)

/**
 * The registry over the `McpCredentialStore` in context (SQL, shared by every instance on the
 * database). `resolve` reads the store on every call (one indexed read: a revoke anywhere is seen
 * by the next request), and writes a use back at most once a minute per credential
 * (`storedTouchInterval`), like session touches. So the stored `lastUsedAt` may lag the real last
 * use by up to a minute, and an idle credential dies up to a minute before `idleTimeout` after
 * its real last use, never later; the sliding deadline likewise moves in steps of a minute.
 * Closing the layer's scope revokes nothing: the other instances still serve the credentials.
 */
export const makeStored = Effect.fnUntraced(function*(options: Options) {
  const { absoluteLifetime, defaultCapabilities, endpoint, idle, maxCredentials, maxLifetime, sweepEvery } =
    yield* settingsOf(options)
  const store = yield* McpCredentialStore
  const clock = yield* Clock.Clock
  const currentTime = () => clock.currentTimeMillisUnsafe()
  const noneEffect = Effect.succeed(none)

  const isDead = (record: { readonly lastUsedAt: number; readonly expiresAt: number }, now: number) =>
    now - record.lastUsedAt >= idle || now >= record.expiresAt

  const resolve = (token: string | Redacted.Redacted<string>) => {
    const text = typeof token === "string" ? token : Redacted.isRedacted(token) ? Redacted.value(token) : undefined
    if (typeof text !== "string" || text.length !== tokenLength) return noneEffect
    const key = hashToken(text)
    return Effect.flatMap(store.findByHash(key), (found) => {
      if (Option.isNone(found)) return noneEffect
      const record = found.value
      const now = currentTime()
      if (isDead(record, now)) return noneEffect
      const principal = Option.some<McpPrincipal>({
        threadId: record.threadId,
        providerInstanceId: record.providerInstanceId,
        capabilities: record.capabilities
      })
      if (now - record.lastUsedAt < storedTouchMillis) return Effect.succeed(principal)
      const expiresAt = Math.min(Math.max(record.expiresAt, now + maxLifetime), record.absoluteExpiresAt)
      return Effect.as(store.touch(key, now, expiresAt), principal)
    })
  }

  const issue = Effect.fn("McpSessionRegistry.issue")(function*(input: IssueInput) {
    const capabilities = yield* checkedCapabilities(input, defaultCapabilities)
    const now = currentTime()
    // As in memory: the thread's earlier credential goes even when the cap then refuses this one.
    // (Dead credentials not yet swept count toward the cap: the sweep runs every `sweepInterval`.)
    yield* store.removeByThread(input.threadId)
    if ((yield* store.count) >= maxCredentials) return yield* new TooManyMcpCredentials({ limit: maxCredentials })
    const token = randomId(32)
    const record = {
      id: newMcpCredentialId(),
      tokenHash: hashToken(token),
      threadId: input.threadId,
      providerInstanceId: input.providerInstanceId,
      capabilities,
      sessionId: input.sessionId,
      createdAt: now,
      absoluteExpiresAt: now + absoluteLifetime,
      lastUsedAt: now,
      expiresAt: Math.min(now + maxLifetime, now + absoluteLifetime)
    }
    yield* store.insertReplacingThread(record)
    return {
      endpoint,
      authorizationHeader: Redacted.make(`Bearer ${token}`, { label: "mcp-authorization" }),
      expiresAt: record.expiresAt,
      credential: infoOf(record)
    }
  })

  const pruneNow = Effect.suspend(() => store.removeDead(currentTime(), idle))

  yield* pruneNow.pipe(
    Effect.catch((error) => Effect.logWarning("MCP credential sweep failed", error.message)),
    Effect.repeat(Schedule.spaced(Duration.millis(sweepEvery))),
    Effect.delay(Duration.millis(sweepEvery)),
    Effect.forkScoped
  )

  return McpSessionRegistry.of({
    endpoint,
    issue,
    resolve,
    revoke: store.removeById,
    revokeThread: store.removeByThread,
    revokeProviderSession: store.removeByProvider,
    revokeSessions: (sids) => store.removeBySessions([...sids]),
    revokeAll: store.removeAll,
    sessionIds: store.sessionIds,
    list: Effect.andThen(pruneNow, Effect.map(store.list, (records) => records.map(infoOf))),
    count: Effect.andThen(pruneNow, store.count)
  })
})

const infoOf = (record: McpCredentialStoreRecord): McpCredentialInfo => ({
  threadId: record.threadId,
  providerInstanceId: record.providerInstanceId,
  capabilities: record.capabilities,
  id: record.id,
  createdBy: record.sessionId,
  createdAt: record.createdAt,
  lastUsedAt: record.lastUsedAt,
  expiresAt: record.expiresAt,
  absoluteExpiresAt: record.absoluteExpiresAt
})

/** The registry over the `McpCredentialStore` in context (see `makeStored`). */
export const layerStore = (options: Options) => Layer.effect(McpSessionRegistry, makeStored(options))

/** `layerStore` with the lifetimes from the environment, as `layerConfig`. */
export const layerStoreConfig = (options: Options) =>
  Layer.effect(McpSessionRegistry, Effect.flatMap(optionsFromConfig(options), makeStored))
