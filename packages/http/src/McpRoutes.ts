/**
 * The MCP routes: `POST /api/auth/mcp-credentials` (needs `write:access`), which issues an agent's
 * per-thread credential from `McpSessionRegistry` for the calling session (revoking that session
 * revokes it: `McpSessionLink`, which `HttpAuthLayer` builds with `mcp`), `GET` (`read:access`) and
 * `DELETE /api/auth/mcp-credentials/:id` (`write:access`) to list and revoke them by id (never by
 * token), and the protected-resource metadata that
 * `McpGuard`'s challenges point at, at `/.well-known/oauth-protected-resource` (and at the RFC 9728
 * path-suffixed URL `/.well-known/oauth-protected-resource<endpoint path>`).
 */
import { Ids, McpSessionRegistry, Scopes } from "@gatehouse-auth/core"
import { Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
import { CurrentSession, HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import { McpGuard, metadataPath } from "./McpGuard.ts"

const noStore = { "cache-control": "no-store" }

/** `/api/auth/mcp-credentials` and the metadata documents. */
export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth
  const guard = yield* McpGuard
  const registry = yield* McpSessionRegistry.McpSessionRegistry
  const settings = yield* HttpAuthSettings

  yield* router.add(
    "POST",
    "/api/auth/mcp-credentials",
    auth.requireScopes([Scopes.writeAccess])(Effect.gen(function*() {
      const { session, via } = yield* CurrentSession
      if (via === "none") return yield* AuthError.notWhileAuthenticationIsOff("MCP credentials")
      // A credential outlives the token: a short, narrow token must not mint a lasting one.
      if (via === "access-token") return yield* AuthError.forbidden("An access token cannot create MCP credentials")
      const body = yield* JsonBody.read(AuthApi.McpCredentialRequest, {
        maxBytes: settings.maxBodyBytes,
        maxDepth: settings.maxJsonDepth,
        expected: `{"threadId": "...", "providerInstanceId": "..."}`
      })
      const capabilities = body.capabilities ?? []
      const missing = Scopes.missing(session.scopes, capabilities)
      if (missing.length > 0) return yield* AuthError.insufficientScope(missing)
      const issued = yield* registry.issue({
        threadId: body.threadId,
        providerInstanceId: body.providerInstanceId,
        capabilities,
        sessionId: session.sid
      })
      const created = Schema.encodeSync(AuthApi.McpCredentialResponse)({
        id: issued.credential.id,
        endpoint: issued.endpoint,
        authorizationHeader: Redacted.value(issued.authorizationHeader),
        expiresAt: issued.expiresAt
      })
      return HttpServerResponse.jsonUnsafe(created, { status: 201, headers: noStore })
    }))
  )

  // As the pairing-link list and revoke: allowed under `unsafe-no-auth` (they mint nothing, and
  // no credential can exist in that mode to be listed).
  yield* router.add(
    "GET",
    "/api/auth/mcp-credentials",
    auth.requireScopes([Scopes.readAccess])(
      Effect.map(registry.list, (credentials) =>
        HttpServerResponse.jsonUnsafe(
          Schema.encodeSync(AuthApi.McpCredentialListResponse)({
            credentials: credentials.map(AuthApi.mcpCredentialView)
          }),
          { headers: noStore }
        ))
    )
  )

  yield* router.add(
    "DELETE",
    "/api/auth/mcp-credentials/:id",
    auth.requireScopes([Scopes.writeAccess])(
      Effect.flatMap(HttpRouter.params, ({ id }) => {
        // An id that cannot be a credential id names no credential: nothing to revoke.
        const credentialId = Ids.McpCredentialId.makeOption(id ?? "")
        const revoked = Option.isNone(credentialId) ? Effect.succeed(false) : registry.revoke(credentialId.value)
        return Effect.map(
          revoked,
          (revoked) =>
            HttpServerResponse.jsonUnsafe(Schema.encodeSync(AuthApi.RevokeResponse)({ revoked }), { headers: noStore })
        )
      })
    )
  )

  // Derived from the origin the request used (a client at localhost sees localhost), so caches
  // must key on the Host: `Vary: Host`.
  const document = Effect.map(
    HttpServerRequest.HttpServerRequest,
    (request) =>
      HttpServerResponse.jsonUnsafe(guard.metadataFor(request), {
        headers: { "cache-control": "max-age=300", vary: "Host" }
      })
  )
  yield* router.add("GET", metadataPath, document)
  const suffix = new URL(registry.endpoint).pathname
  if (suffix !== "/") yield* router.add("GET", `${metadataPath}${suffix}` as `/${string}`, document)
}))
