/**
 * The MCP routes: `POST /api/auth/mcp-credentials` (needs `write:access`), which issues an agent's
 * per-thread credential from `McpSessionRegistry`, and the protected-resource metadata that
 * `McpGuard`'s challenges point at, at `/.well-known/oauth-protected-resource` (and at the RFC 9728
 * path-suffixed URL `/.well-known/oauth-protected-resource<endpoint path>`).
 */
import { McpSessionRegistry, Scopes } from "@gatehouse-auth/core"
import { Effect, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
import { CurrentSession, HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import { McpGuard, metadataPath } from "./McpGuard.ts"

/** `POST /api/auth/mcp-credentials` and the metadata documents. */
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
      const body = yield* JsonBody.read(AuthApi.McpCredentialRequest, {
        maxBytes: settings.maxBodyBytes,
        expected: `{"threadId": "...", "providerInstanceId": "..."}`
      })
      const capabilities = body.capabilities ?? []
      const missing = Scopes.missing(session.scopes, capabilities)
      if (missing.length > 0) return yield* AuthError.insufficientScope(missing)
      const issued = yield* registry.issue({
        threadId: body.threadId,
        providerInstanceId: body.providerInstanceId,
        capabilities
      })
      const created = Schema.encodeSync(AuthApi.McpCredentialResponse)({
        endpoint: issued.endpoint,
        authorizationHeader: Redacted.value(issued.authorizationHeader),
        expiresAt: issued.expiresAt
      })
      return HttpServerResponse.jsonUnsafe(created, { status: 201, headers: { "cache-control": "no-store" } })
    }))
  )

  const document = HttpServerResponse.jsonUnsafe(guard.metadata, { headers: { "cache-control": "max-age=300" } })
  yield* router.add("GET", metadataPath, document)
  const suffix = new URL(registry.endpoint).pathname
  if (suffix !== "/") yield* router.add("GET", `${metadataPath}${suffix}` as `/${string}`, document)
}))
