/**
 * The guard of MCP endpoints: agent processes present a per-thread credential from
 * `McpSessionRegistry` as a static `Authorization: Bearer` header, which they cannot refresh.
 *
 * `McpGuard.serve(handler)` protects an MCP endpoint: the Authorization header only (a token in
 * the query string is never read), the Origin check (the Host check is global), per-address
 * failure limits, and `401` with `WWW-Authenticate: Bearer resource_metadata="..."` (RFC 9728
 * §5.1) so a client can discover how to authenticate. The handler gets the `McpPrincipal` as the
 * `CurrentMcpPrincipal` service. The metadata document itself is served by `McpRoutes.layer`.
 */
import { McpSessionRegistry } from "@gatehouse-auth/core"
import { Context, Effect, Layer, Option } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthError from "./AuthError.ts"
import { HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as RequestInfo from "./RequestInfo.ts"
import * as RouteAccess from "./RouteAccess.ts"

/** The agent thread an MCP request speaks for. */
export class CurrentMcpPrincipal extends Context.Service<CurrentMcpPrincipal, McpSessionRegistry.McpPrincipal>()(
  "@gatehouse-auth/http/CurrentMcpPrincipal"
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

export class McpGuard extends Context.Service<McpGuard, McpGuardShape>()("@gatehouse-auth/http/McpGuard") {}

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
            "www-authenticate": AuthError.bearerChallengeHeader({
              error: "invalid_request",
              resource_metadata: metadataUrl
            })
          }
        })
        : AuthError.missingCredential(challenge)
    }
    // (A header is never `Ambiguous`: only cookies can come twice.)
    if (presented._tag !== "Token") {
      return yield* auth.failCredential(AuthError.invalidCredential("The MCP credential is malformed", challenge))
    }
    const principal = yield* registry.resolve(presented.token)
    if (Option.isNone(principal)) {
      return yield* auth.failCredential(AuthError.invalidCredential("The MCP credential is not valid", challenge))
    }
    return principal.value
  })

  const serve = <E, R>(handler: Effect.Effect<Response, E, R>) =>
    RouteAccess.declare(auth.respond(
      Effect.flatMap(authenticate, (principal) => Effect.provideService(handler, CurrentMcpPrincipal, principal))
    ))

  return McpGuard.of({ metadataUrl, metadata, serve })
})

/** Needs `HttpAuth`, `HttpAuthSettings` and core's `McpSessionRegistry`. */
export const layer = (options: Options = {}) => Layer.effect(McpGuard, make(options))
