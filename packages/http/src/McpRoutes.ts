/**
 * MCP endpoints: agent processes present a per-thread credential from `McpSessionRegistry` as a
 * static `Authorization: Bearer` header, which they cannot refresh.
 *
 * - `McpGuard.serve(handler)` protects an MCP endpoint: the Authorization header only (a token in
 *   the query string is never read), the Origin check (the Host check is global), per-address
 *   failure limits, and `401` with `WWW-Authenticate: Bearer resource_metadata="..."` (RFC 9728
 *   §5.1) so a client can discover how to authenticate. The handler gets the `McpPrincipal`.
 * - `layer` adds `POST /api/auth/mcp-credentials` (needs `write:access`) and the protected-resource
 *   metadata at `/.well-known/oauth-protected-resource` (and at the RFC 9728 path-suffixed URL
 *   `/.well-known/oauth-protected-resource<endpoint path>`).
 */
import { McpSessionRegistry, Scopes } from "@gatehouse/core"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthError from "./AuthError.ts"
import { CurrentSession, HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import * as RequestInfo from "./RequestInfo.ts"

/** The agent thread an MCP request speaks for. */
export class CurrentMcpPrincipal extends Context.Service<CurrentMcpPrincipal, McpSessionRegistry.McpPrincipal>()(
  "@gatehouse/http/CurrentMcpPrincipal"
) {}

export const metadataPath = "/.well-known/oauth-protected-resource"

type Response = HttpServerResponse.HttpServerResponse

export interface McpGuardShape {
  /** `<origin>/.well-known/oauth-protected-resource`, named in every 401 challenge. */
  readonly metadataUrl: string
  /** The RFC 9728 metadata document. */
  readonly metadata: Record<string, unknown>
  readonly serve: <E, R>(
    handler: Effect.Effect<Response, E, R>
  ) => Effect.Effect<Response, never, HttpServerRequest.HttpServerRequest | Exclude<R, CurrentMcpPrincipal>>
}

export class McpGuard extends Context.Service<McpGuard, McpGuardShape>()("@gatehouse/http/McpGuard") {}

export interface Options {
  /** Shown to people in the metadata (`resource_name`). */
  readonly resourceName?: string | undefined
}

const hasQueryToken = (url: string) => {
  const query = url.indexOf("?")
  if (query < 0) return false
  const params = new URLSearchParams(url.slice(query + 1))
  return params.has("access_token") || params.has("token")
}

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const auth = yield* HttpAuth
  const registry = yield* McpSessionRegistry.McpSessionRegistry
  const settings = yield* HttpAuthSettings
  const endpoint = new URL(registry.endpoint)
  const origin = settings.publicOrigin ?? endpoint.origin
  const metadataUrl = `${origin}${metadataPath}`
  const challenge = { resource_metadata: metadataUrl }
  const metadata = {
    resource: settings.publicOrigin === undefined ? registry.endpoint : `${settings.publicOrigin}${endpoint.pathname}`,
    bearer_methods_supported: ["header"],
    resource_name: options.resourceName ?? "Gatehouse MCP endpoint",
    // No OAuth authorization server issues these credentials: the server hands them to agents.
    authorization_servers: []
  }

  const authenticate = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    yield* auth.checkOrigin
    const presented = RequestInfo.bearerToken(request)
    if (presented._tag === "None") {
      return yield* hasQueryToken(request.url)
        ? new AuthError.HttpAuthError({
          status: 401,
          code: "missing_credential",
          message: "Send the credential in the Authorization header, never in the URL",
          headers: {
            "www-authenticate": `Bearer error="invalid_request", resource_metadata="${metadataUrl}"`
          }
        })
        : AuthError.missingCredential(challenge)
    }
    if (presented._tag === "Malformed") {
      return yield* auth.failCredential(AuthError.invalidCredential("The MCP credential is malformed", challenge))
    }
    const principal = yield* registry.resolve(presented.token)
    if (Option.isNone(principal)) {
      return yield* auth.failCredential(AuthError.invalidCredential("The MCP credential is not valid", challenge))
    }
    return principal.value
  })

  const serve = <E, R>(handler: Effect.Effect<Response, E, R>) =>
    auth.respond(
      Effect.flatMap(authenticate, (principal) => Effect.provideService(handler, CurrentMcpPrincipal, principal))
    )

  return McpGuard.of({ metadataUrl, metadata, serve })
})

export const guardLayer = (options: Options = {}) => Layer.effect(McpGuard, make(options))

const IssueBody = Schema.Struct({
  threadId: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(256)),
  providerInstanceId: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(256)),
  capabilities: Schema.optional(
    Schema.Array(Schema.String.check(Schema.isMaxLength(256))).check(Schema.isMaxLength(64))
  )
})

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
      const { session } = yield* CurrentSession
      const body = yield* JsonBody.read(IssueBody, {
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
      return HttpServerResponse.jsonUnsafe({
        endpoint: issued.endpoint,
        authorizationHeader: Redacted.value(issued.authorizationHeader),
        expiresAt: issued.expiresAt
      }, { status: 201, headers: { "cache-control": "no-store" } })
    }))
  )

  const document = HttpServerResponse.jsonUnsafe(guard.metadata, { headers: { "cache-control": "max-age=300" } })
  yield* router.add("GET", metadataPath, document)
  const suffix = new URL(registry.endpoint).pathname
  if (suffix !== "/") yield* router.add("GET", `${metadataPath}${suffix}` as `/${string}`, document)
}))
