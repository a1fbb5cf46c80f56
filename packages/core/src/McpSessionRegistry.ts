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
 *   `lastUsedAt = now` and slides `expiresAt = max(expiresAt, now + maxLifetime)` (default 30 days).
 * - Dead entries are pruned when presented, by an amortised sweep on `issue` (so memory stays
 *   within about twice the live set), and by a background fiber in the layer's scope. Closing
 *   that scope revokes every credential.
 *
 * Everything here is in process memory on purpose: a credential is worth nothing after a restart
 * (the agent processes it was handed to are restarted with new ones).
 */
import { Clock, Config, Context, Duration, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { InvalidRequest } from "./Errors.ts"
import { sha256Base64Url } from "./Hashing.ts"
import * as Scopes from "./Scopes.ts"

// ---------------------------------------------------------------------------------------------
// Endpoint (pure)
// ---------------------------------------------------------------------------------------------

/** Where the server listens; the MCP endpoint URL handed to agents is derived from it. */
export interface EndpointConfig {
  /** The bind host: a name, an IPv4 or IPv6 address (bracketed or not), or a wildcard. */
  readonly host: string
  /** The port actually listened on (not 0). */
  readonly port: number
  /** Default `http`. */
  readonly scheme?: "http" | "https" | undefined
  /** Default `/mcp`. */
  readonly path?: string | undefined
}

/** `[::]` for every spelling of the IPv6 unspecified address; the URL form of any other one. */
const canonicalIpv6 = (address: string): string | undefined => {
  try {
    return new URL(`http://[${address}]/`).hostname
  } catch {
    return undefined
  }
}

/**
 * The host an agent should connect to for a server bound to `bindHost`: a wildcard bind
 * (`0.0.0.0`, `::`, empty) becomes `127.0.0.1` (the agents run on the same machine, and a
 * wildcard is not an address one can connect to); an IPv6 address is bracketed for a URL;
 * anything else is returned as given. (IPv6 zone ids, `fe80::1%eth0`, cannot appear in a WHATWG
 * URL, so such a host makes the layer fail rather than hand out an unusable endpoint.)
 */
export const advertisedHost = (bindHost: string): string => {
  const trimmed = bindHost.trim()
  const bare = trimmed.startsWith("[") && trimmed.endsWith("]") ? trimmed.slice(1, -1) : trimmed
  if (bare === "" || bare === "0.0.0.0") return "127.0.0.1"
  if (!Net.isIPv6(bare)) return bare
  const canonical = canonicalIpv6(bare) ?? `[${bare.toLowerCase()}]`
  return canonical === "[::]" ? "127.0.0.1" : canonical
}

/** The endpoint URL, e.g. `http://127.0.0.1:3773/mcp`. The port is always written out. */
export const endpointUrl = (config: EndpointConfig): string => {
  const scheme = config.scheme ?? "http"
  const path = config.path ?? "/mcp"
  return `${scheme}://${advertisedHost(config.host)}:${config.port}${path.startsWith("/") ? path : `/${path}`}`
}

const validEndpoint = (config: EndpointConfig): string | undefined => {
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) return undefined
  if (config.scheme !== undefined && config.scheme !== "http" && config.scheme !== "https") return undefined
  // A host or path that would smuggle in another authority, a query or a fragment is refused.
  if (!/^(?:\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+)$/.test(advertisedHost(config.host))) return undefined
  if (config.path !== undefined && !/^\/?[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(config.path)) return undefined
  const url = endpointUrl(config)
  return URL.canParse(url) ? url : undefined
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/** Who a credential speaks for. `capabilities` are scopes (see README: "MCP credentials"). */
export interface McpPrincipal {
  readonly threadId: string
  readonly providerInstanceId: string
  /** Scopes (`Scopes` grammar) the MCP server may grant this agent beyond reaching its endpoint. */
  readonly capabilities: ReadonlyArray<string>
}

/** A live credential as callers see it: never the token, never its hash. */
export interface McpCredentialInfo extends McpPrincipal {
  readonly createdAt: number
  readonly lastUsedAt: number
  /** The sliding max-lifetime deadline; the credential also dies after `idleTimeout` unused. */
  readonly expiresAt: number
}

export interface IssueInput {
  readonly threadId: string
  readonly providerInstanceId: string
  /** Default: the layer's `defaultCapabilities` (itself `[]` unless configured). */
  readonly capabilities?: ReadonlyArray<string> | undefined
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
  readonly issue: (input: IssueInput) => Effect.Effect<IssuedMcpCredential, InvalidRequest | TooManyMcpCredentials>
  /**
   * The principal of a live credential, sliding its lifetime; `None` for anything else. Total for
   * any input: accepts the bare token (not the `Bearer ` header) as a string or `Redacted`.
   */
  readonly resolve: (token: string | Redacted.Redacted<string>) => Effect.Effect<Option.Option<McpPrincipal>>
  /** Each returns how many credentials it revoked. */
  readonly revokeThread: (threadId: string) => Effect.Effect<number>
  readonly revokeProviderSession: (providerInstanceId: string) => Effect.Effect<number>
  readonly revokeAll: Effect.Effect<number>
  /** Live credentials, oldest first (dead ones are pruned on the way). */
  readonly list: Effect.Effect<ReadonlyArray<McpCredentialInfo>>
  readonly count: Effect.Effect<number>
}

export class McpSessionRegistry extends Context.Service<McpSessionRegistry, McpSessionRegistryShape>()(
  "@gatehouse/core/McpSessionRegistry"
) {}

/** What the registry holds per credential, keyed by the token's SHA-256. */
export interface StoredCredential {
  readonly principal: McpPrincipal
  readonly createdAt: number
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
>()("@gatehouse/core/McpSessionRegistryInspector") {}

export interface Options {
  readonly endpoint: EndpointConfig
  /** Default 30 minutes. */
  readonly idleTimeout?: Duration.Input | undefined
  /** Default 30 days. */
  readonly maxLifetime?: Duration.Input | undefined
  /** How often the background fiber prunes dead entries (default 1 minute). */
  readonly sweepInterval?: Duration.Input | undefined
  /** Capabilities of a credential issued without any (default `[]`). */
  readonly defaultCapabilities?: ReadonlyArray<string> | undefined
  /** Live credentials at most (default 1 000 000, about 0.4 GB of heap); `issue` fails beyond it. */
  readonly maxCredentials?: number | undefined
}

export const defaultIdleTimeout = Duration.minutes(30)
export const defaultMaxLifetime = Duration.days(30)
const defaultSweepInterval = Duration.minutes(1)
const defaultMaxCredentials = 1_000_000
/** 32 bytes in base64url without padding. */
const tokenLength = 43
/** Below this many entries, `issue` does not bother sweeping. */
const minimumSweepThreshold = 1024
const none: Option.Option<McpPrincipal> = Option.none()

/** The map key of a token: base64url SHA-256 of its text. */
export const hashToken = (token: string): string => sha256Base64Url(token)

const positiveMillis = (input: Duration.Input | undefined, fallback: Duration.Duration): number | undefined => {
  const duration = input === undefined ? Option.some(fallback) : Duration.fromInput(input)
  if (Option.isNone(duration)) return undefined
  const millis = Duration.toMillis(duration.value)
  return millis > 0 && Number.isFinite(millis) ? millis : undefined
}

const validId = (value: unknown): value is string =>
  typeof value === "string" && value.length > 0 && value.length <= 256

const validCapabilities = (value: ReadonlyArray<string>): ReadonlyArray<string> | undefined =>
  Array.isArray(value) && value.length <= 64 && value.every(Scopes.isScope)
    ? Object.freeze([...new Set(value)])
    : undefined

const makeInternal = Effect.fnUntraced(function*(options: Options) {
  const idle = positiveMillis(options.idleTimeout, defaultIdleTimeout)
  const maxLifetime = positiveMillis(options.maxLifetime, defaultMaxLifetime)
  const sweepEvery = positiveMillis(options.sweepInterval, defaultSweepInterval)
  const maxCredentials = options.maxCredentials ?? defaultMaxCredentials
  const defaultCapabilities = validCapabilities(options.defaultCapabilities ?? [])
  const endpoint = validEndpoint(options.endpoint)
  if (idle === undefined || maxLifetime === undefined || sweepEvery === undefined) {
    return yield* new InvalidRequest({ message: "MCP idleTimeout, maxLifetime and sweepInterval must be positive" })
  }
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

  // The Clock the layer is built with (a TestClock in tests), read synchronously: looking it up
  // per call would cost `resolve` about 15% of its throughput on the per-request path.
  const clock = yield* Clock.Clock
  const currentTime = () => clock.currentTimeMillisUnsafe()
  const entries = new Map<string, StoredCredential>()
  /** The one live credential of each thread (issue revokes the earlier one). */
  const byThread = new Map<string, string>()
  /** `issue` sweeps when the map reaches this size: twice what the last sweep left (amortised O(1)). */
  let sweepThreshold = minimumSweepThreshold

  const isDead = (entry: StoredCredential, now: number) => now - entry.lastUsedAt >= idle || now >= entry.expiresAt

  const remove = (key: string, entry: StoredCredential) => {
    entries.delete(key)
    if (byThread.get(entry.principal.threadId) === key) byThread.delete(entry.principal.threadId)
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
    createdAt: entry.createdAt,
    lastUsedAt: entry.lastUsedAt,
    expiresAt: entry.expiresAt
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
    if (now + maxLifetime > entry.expiresAt) entry.expiresAt = now + maxLifetime
    return Option.some(entry.principal)
  }

  const resolve = (token: string | Redacted.Redacted<string>) => Effect.sync(() => resolveAt(token, currentTime()))

  const issue = Effect.fn("McpSessionRegistry.issue")(function*(input: IssueInput) {
    if (!validId(input.threadId) || !validId(input.providerInstanceId)) {
      return yield* new InvalidRequest({ message: "threadId and providerInstanceId must be 1 to 256 characters" })
    }
    const capabilities = input.capabilities === undefined
      ? defaultCapabilities
      : validCapabilities(input.capabilities)
    if (capabilities === undefined) {
      return yield* new InvalidRequest({ message: "capabilities must be at most 64 valid scopes" })
    }
    const now = currentTime()
    const earlier = byThread.get(input.threadId)
    if (earlier !== undefined) remove(earlier, entries.get(earlier)!)
    if (entries.size >= sweepThreshold || entries.size >= maxCredentials) sweep(now)
    if (entries.size >= maxCredentials) return yield* new TooManyMcpCredentials({ limit: maxCredentials })

    const token = Crypto.randomBytes(32).toString("base64url")
    const key = hashToken(token)
    const principal: McpPrincipal = Object.freeze({
      threadId: input.threadId,
      providerInstanceId: input.providerInstanceId,
      capabilities
    })
    const entry: StoredCredential = {
      principal,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: now + maxLifetime
    }
    entries.set(key, entry)
    byThread.set(input.threadId, key)
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

  const revokeAll = Effect.sync(() => {
    const removed = entries.size
    entries.clear()
    byThread.clear()
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
    revokeThread,
    revokeProviderSession,
    revokeAll,
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
 * `layer` with `idleTimeout` / `maxLifetime` from `GATEHOUSE_MCP_IDLE_TIMEOUT` /
 * `GATEHOUSE_MCP_MAX_LIFETIME` (durations such as `45 minutes`, `7 days`) when set; explicit
 * `options` win over the configuration.
 */
export const layerConfig = (options: Options) =>
  Layer.effect(
    McpSessionRegistry,
    Effect.gen(function*() {
      const idleTimeout = yield* Config.option(Config.Duration("GATEHOUSE_MCP_IDLE_TIMEOUT"))
      const maxLifetime = yield* Config.option(Config.Duration("GATEHOUSE_MCP_MAX_LIFETIME"))
      return yield* make({
        ...options,
        idleTimeout: options.idleTimeout ?? Option.getOrUndefined(idleTimeout),
        maxLifetime: options.maxLifetime ?? Option.getOrUndefined(maxLifetime)
      })
    })
  )

/** The registry plus `McpSessionRegistryInspector`; the endpoint defaults to `127.0.0.1:3773`. */
export const layerTest = (options: Partial<Options> = {}) =>
  Layer.effectContext(
    Effect.map(
      makeInternal({ ...options, endpoint: options.endpoint ?? { host: "127.0.0.1", port: 3773 } }),
      ({ inspector, registry }) =>
        Context.make(McpSessionRegistry, registry).pipe(Context.add(McpSessionRegistryInspector, inspector))
    )
  )
