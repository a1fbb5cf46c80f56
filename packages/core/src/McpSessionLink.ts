/**
 * Ties MCP credentials to the sessions that asked for them: revoking a session ends its
 * credentials. The registry stays usable without sessions; this layer is what links the two
 * (`HttpAuthLayer` builds it with `mcp`, since the HTTP route is what records the session).
 *
 * - A revoke made by this instance's `SessionCredentialService` (a route, or anything else in this
 *   process) drops the session's credentials before the revoke returns: a revocation cascade.
 * - A revoke made elsewhere (the CLI, another instance on the same database) or an expiry is found
 *   by a check every `livenessInterval` (default 500 ms): the distinct sessions of the registry's
 *   credentials are read in one batched store call (`liveAmong`), and the credentials of any that
 *   are gone are dropped. `resolve` stays a map lookup: no store read is ever on its path.
 *
 * A store outage during the check drops nothing; it is logged and retried.
 */
import { Duration, Effect, Layer, Schedule } from "effect"
import * as Durations from "./Durations.ts"
import * as McpSessionRegistry from "./McpSessionRegistry.ts"
import * as Sessions from "./SessionCredentialService.ts"

export interface Options {
  /** How often credentials' sessions are checked for a revoke made elsewhere (default 500 ms). */
  readonly livenessInterval?: Duration.Input | undefined
}

export const defaultLivenessInterval = Duration.millis(500)

/** Links the registry to the sessions for the current scope: the cascade and the liveness check. */
export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const registry = yield* McpSessionRegistry.McpSessionRegistry
  const sessions = yield* Sessions.SessionCredentialService
  const every = yield* Durations.toMillis("MCP livenessInterval", options.livenessInterval, defaultLivenessInterval)

  yield* sessions.addRevocationCascade((sids) => Effect.asVoid(registry.revokeSessions(sids)))

  const check = Effect.gen(function*() {
    const sids = yield* registry.sessionIds
    if (sids.length === 0) return
    const live = yield* sessions.liveAmong(sids)
    yield* registry.revokeSessions(sids.filter((sid) => !live.has(sid)))
  }).pipe(Effect.catch((error) => Effect.logWarning("MCP credential liveness check failed", error.message)))

  yield* check.pipe(
    Effect.repeat(Schedule.spaced(Duration.millis(every))),
    Effect.delay(Duration.millis(every)),
    Effect.forkScoped
  )
})

/** The link, alive for the layer's scope; needs `McpSessionRegistry` and `SessionCredentialService`. */
export const layer = (options: Options = {}) => Layer.effectDiscard(make(options))
