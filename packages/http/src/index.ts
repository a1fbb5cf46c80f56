/**
 * `@gatehouse-auth/http`: the HTTP face of Gatehouse on `effect/http`. Start with `HttpAuthLayer.layer`,
 * which serves your routes with everything else here. No storage: it talks to `@gatehouse-auth/core`.
 */

/** Request and response Schemas of every `/api/auth/*` route (a client imports their types). */
export * as AuthApi from "./AuthApi.ts"

/** The `/api/auth/*` routes as `HttpApiGroup`s, for your OpenAPI document (`layer`, `fromApi`) and typed clients. */
export * as AuthOpenApi from "./AuthOpenApi.ts"

/** The contract's error responses (`{ error: { code, message } }`) and the exhaustive core error mapping. */
export * as AuthError from "./AuthError.ts"

/** Request-wide guards: trusted proxies and the loopback Host check. */
export * as AuthMiddleware from "./AuthMiddleware.ts"

/** The `/api/auth/*` routes: session state, bootstrap, logout, tickets, sessions and pairing links. */
export * as AuthRoutes from "./AuthRoutes.ts"

/** For `effect/http-api`: the `Authentication` security middleware and `requireScopes` per endpoint. */
export * as HttpApiAuth from "./HttpApiAuth.ts"

/** Route guards for your handlers: `requireScopes`, `requireSession`, `respond`, cookies, failure counting. */
export * as HttpAuth from "./HttpAuth.ts"

/** The one composition: `layer(options)(AppRoutes)` serves your routes with the auth stack in the right order. */
export * as HttpAuthLayer from "./HttpAuthLayer.ts"

/** Settings of the HTTP layer: application scopes, allowed origins, public origin, body and TTL limits. */
export * as HttpAuthSettings from "./HttpAuthSettings.ts"

/** JSON request bodies: content type (415), size (413), syntax and Schema (400), never echoing input. */
export * as JsonBody from "./JsonBody.ts"

/** The same-user proof for local tools (POSIX): `POST /api/auth/local-proof/challenge` and `/local-proof`, loopback sockets only. */
export * as LocalProofRoutes from "./LocalProofRoutes.ts"

/** Protects an MCP endpoint with per-thread credentials (`401` with an RFC 9728 `resource_metadata`). */
export * as McpGuard from "./McpGuard.ts"

/** A real MCP endpoint (`effect/ai`'s `McpServer`, Streamable HTTP) with every request behind `McpGuard`. */
export * as McpServerRoutes from "./McpServerRoutes.ts"

/** `POST /api/auth/mcp-credentials` and the RFC 9728 protected-resource metadata documents. */
export * as McpRoutes from "./McpRoutes.ts"

/** Fetches client ID metadata documents without SSRF: one checked resolution, no private addresses, no redirects, 5 KB, 5 s. */
export * as OAuthClientDocumentFetcher from "./OAuthClientDocumentFetcher.ts"

/** Where the OAuth authorization server and the MCP resource are (from the Host used) and their RFC 8414/9728 documents. */
export * as OAuthMetadata from "./OAuthMetadata.ts"

/** The OAuth 2.1 authorization server's routes: discovery, registration, authorize + consent form, token, revoke. */
export * as OAuthRoutes from "./OAuthRoutes.ts"

/** Per-address token bucket for credential failures (bounded memory). */
export * as RateLimiter from "./RateLimiter.ts"

/** Reading requests safely: cookies, bearer tokens, client address, scheme, Origin and Host checks. */
export * as RequestInfo from "./RequestInfo.ts"

/**
 * Deny by default (`HttpAuthLayer` option `denyByDefault`): an application handler that is neither
 * guarded nor `HttpAuth.public` requires a session.
 */
export * as RouteAccess from "./RouteAccess.ts"

/** Resource-level authorization for `HttpAuth.requireAccess`: `anyResource`, `everyResource` and the rule. */
export * as ResourceAccess from "./ResourceAccess.ts"

/** The WebSocket upgrade guard: cookie or ticket, Origin check, scopes, close on revoke (4401). */
export * as WebSocketGuard from "./WebSocketGuard.ts"

/** Refusals before any route: Node's HTTP parser errors and undecodable paths, in the JSON error shape. */
export * as WireErrors from "./WireErrors.ts"
