/**
 * The `/api/auth/*` routes as `HttpApiGroup`s, with the `AuthApi` Schemas: for your OpenAPI
 * document and for typed clients. `HttpAuthLayer` serves these routes, not `HttpApiBuilder`, so the
 * groups join a document (`layer`, `fromApi`, or your own `Api.add(AuthOpenApi.AuthGroup)` for
 * `HttpApiScalar`) or a client (`Api`), never the API you serve (which would then need handlers
 * for them).
 *
 *   Layer.mergeAll(ApiRoutes, AuthOpenApi.layer(Api, { path: "/openapi.json" }))
 */
import { Scopes } from "@gatehouse-auth/core"
import { Effect, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as AuthApi from "./AuthApi.ts"
import { Forbidden, requireScopes, ServiceUnavailable, TooManyRequests, Unauthorized } from "./HttpApiAuth.ts"
import { HttpAuth } from "./HttpAuth.ts"

const ErrorBody = AuthApi.ErrorResponse.fields.error

/** 400 `invalid_request`: a body that is not JSON or not the route's Schema. */
export class InvalidRequest extends Schema.Error<InvalidRequest>("GatehouseInvalidRequest")({ error: ErrorBody }, {
  httpApiStatus: 400,
  description: "invalid_request: the body is not JSON, or not what the route accepts"
}) {}

/** 413 `payload_too_large`. */
export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("GatehousePayloadTooLarge")({ error: ErrorBody }, {
  httpApiStatus: 413,
  description: "payload_too_large: the body is over the server's limit (64 KiB by default)"
}) {}

/** 415 `unsupported_media_type`. */
export class UnsupportedMediaType
  extends Schema.Error<UnsupportedMediaType>("GatehouseUnsupportedMediaType")({ error: ErrorBody }, {
    httpApiStatus: 415,
    description: "unsupported_media_type: the body is not application/json"
  })
{}

const bodyErrors = [InvalidRequest, PayloadTooLarge, UnsupportedMediaType] as const
// The bootstrap routes refuse a pairing code with the answers the middleware gives a credential.
const exchangeErrors = [...bodyErrors, Unauthorized, Forbidden, TooManyRequests, ServiceUnavailable] as const

/** The routes `HttpAuthLayer.layer` always serves (`AuthRoutes`). */
export class AuthGroup extends HttpApiGroup.make("gatehouse").add(
  HttpApiEndpoint.get("session", "/api/auth/session", {
    success: AuthApi.SessionStateResponse,
    error: ServiceUnavailable
  }).annotate(OpenApi.Summary, "The caller's session, if any, and how this server authenticates"),
  HttpApiEndpoint.post("bootstrap", "/api/auth/bootstrap", {
    payload: AuthApi.BootstrapRequest,
    success: AuthApi.BootstrapResponse,
    error: exchangeErrors
  }).annotate(OpenApi.Summary, "Exchange a pairing code for a session cookie (Set-Cookie; Origin-checked)"),
  HttpApiEndpoint.post("bootstrapBearer", "/api/auth/bootstrap/bearer", {
    payload: AuthApi.BearerBootstrapRequest,
    success: AuthApi.BearerBootstrapResponse,
    error: exchangeErrors
  }).annotate(OpenApi.Summary, "Exchange a pairing code for a bearer token"),
  HttpApiEndpoint.post("logout", "/api/auth/logout", { error: bodyErrors }).pipe(requireScopes())
    .annotate(OpenApi.Summary, "Revoke the caller's session and clear its cookie"),
  HttpApiEndpoint.post("webSocketTicket", "/api/auth/ws-ticket", {
    success: AuthApi.WebSocketTicketResponse,
    error: bodyErrors
  }).pipe(requireScopes()).annotate(OpenApi.Summary, "A one-use ticket for a WebSocket upgrade (?ticket=)"),
  HttpApiEndpoint.get("listSessions", "/api/auth/sessions", { success: AuthApi.SessionListResponse })
    .pipe(requireScopes(Scopes.readAccess)),
  HttpApiEndpoint.delete("revokeSession", "/api/auth/sessions/:id", {
    params: { id: Schema.String },
    success: AuthApi.RevokeResponse
  }).pipe(requireScopes(Scopes.writeAccess)).annotate(OpenApi.Summary, "Revoke another session (403 for your own)"),
  HttpApiEndpoint.post("revokeOtherSessions", "/api/auth/sessions/revoke-others", {
    success: AuthApi.RevokeOthersResponse,
    error: bodyErrors
  }).pipe(requireScopes(Scopes.writeAccess)),
  HttpApiEndpoint.post("createPairingLink", "/api/auth/pairing-links", {
    payload: AuthApi.PairingLinkRequest,
    success: AuthApi.PairingLinkResponse.pipe(HttpApiSchema.status(201)),
    error: bodyErrors
  }).pipe(requireScopes(Scopes.writeAccess)).annotate(OpenApi.Summary, "Issue a pairing code (only scopes you hold)"),
  HttpApiEndpoint.get("listPairingLinks", "/api/auth/pairing-links", {
    query: AuthApi.PairingLinkListQuery,
    success: AuthApi.PairingLinkListResponse,
    error: InvalidRequest
  }).pipe(requireScopes(Scopes.readAccess)).annotate(
    OpenApi.Summary,
    "List open pairing links, a page at a time (limit 1 to 100, default 50; follow nextCursor)"
  ),
  HttpApiEndpoint.delete("revokePairingLink", "/api/auth/pairing-links/:id", {
    params: { id: Schema.String },
    success: AuthApi.RevokeResponse
  }).pipe(requireScopes(Scopes.writeAccess))
).annotateMerge(OpenApi.annotations({
  title: "Gatehouse",
  description: "Pairing, sessions and pairing links; served by @gatehouse-auth/http's HttpAuthLayer"
})) {}

/** `/api/auth/mcp-credentials`, served when `HttpAuthLayer.layer` has `mcp`. */
export class McpGroup extends HttpApiGroup.make("gatehouseMcp").add(
  HttpApiEndpoint.post("createMcpCredential", "/api/auth/mcp-credentials", {
    payload: AuthApi.McpCredentialRequest,
    success: AuthApi.McpCredentialResponse.pipe(HttpApiSchema.status(201)),
    error: bodyErrors
  }).pipe(requireScopes(Scopes.writeAccess)).annotate(
    OpenApi.Summary,
    "Issue an agent's per-thread MCP credential (revoked with the calling session)"
  ),
  HttpApiEndpoint.get("listMcpCredentials", "/api/auth/mcp-credentials", {
    success: AuthApi.McpCredentialListResponse
  }).pipe(requireScopes(Scopes.readAccess)).annotate(OpenApi.Summary, "The live MCP credentials (never tokens)"),
  HttpApiEndpoint.delete("revokeMcpCredential", "/api/auth/mcp-credentials/:id", {
    params: { id: Schema.String },
    success: AuthApi.RevokeResponse
  }).pipe(requireScopes(Scopes.writeAccess)).annotate(OpenApi.Summary, "Revoke an MCP credential by id")
).annotateMerge(OpenApi.annotations({ title: "Gatehouse MCP" })) {}

/**
 * `/api/auth/local-proof/*`, served when a core `LocalProof` is provided (see `LocalProofRoutes`):
 * loopback socket peers only; every refusal is the same 401.
 */
export class LocalProofGroup extends HttpApiGroup.make("gatehouseLocalProof").add(
  HttpApiEndpoint.post("localProofChallenge", "/api/auth/local-proof/challenge", {
    success: AuthApi.LocalProofChallengeResponse,
    error: exchangeErrors
  }).annotate(OpenApi.Summary, "A nonce to write into a 0600 file of the server's private directory (same OS user)"),
  HttpApiEndpoint.post("localProof", "/api/auth/local-proof", {
    payload: AuthApi.LocalProofRequest,
    success: AuthApi.BearerBootstrapResponse,
    error: exchangeErrors
  }).annotate(OpenApi.Summary, "Exchange the written challenge file for a bearer token")
).annotateMerge(OpenApi.annotations({ title: "Gatehouse local proof" })) {}

/** The Gatehouse routes alone, for a typed client: `HttpApiClient.make(AuthOpenApi.Api)`. */
export class Api extends HttpApi.make("gatehouse").add(AuthGroup, McpGroup, LocalProofGroup) {}

export interface Options {
  /** Document the `/api/auth/mcp-credentials` routes too (when `HttpAuthLayer.layer` has `mcp`). */
  readonly mcp?: boolean | undefined
  /** Document the `/api/auth/local-proof/*` routes too (when a `LocalProof` is provided). */
  readonly localProof?: boolean | undefined
}

// Typed as if with every group: the result is only documented, never served or given a client.
const documented = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>,
  options: Options
): HttpApi.HttpApi<Id, Groups | typeof AuthGroup | typeof McpGroup | typeof LocalProofGroup> => {
  const withMcp: HttpApi.HttpApi<Id, any> = options.mcp === true ? api.add(AuthGroup, McpGroup) : api.add(AuthGroup)
  return options.localProof === true ? withMcp.add(LocalProofGroup) : withMcp
}

/** Names the session cookie in the document's cookie scheme (the declared name is a placeholder). */
const nameCookie = (spec: OpenApi.OpenAPISpec, cookieName: string): OpenApi.OpenAPISpec => {
  const scheme = spec.components.securitySchemes["gatehouseCookie"]
  if (scheme?.type !== "apiKey") return spec
  const securitySchemes = { ...spec.components.securitySchemes, gatehouseCookie: { ...scheme, name: cookieName } }
  return { ...spec, components: { ...spec.components, securitySchemes } }
}

/**
 * The OpenAPI document of `api` and the Gatehouse routes. With `cookieName` (the policy's
 * `sessionCookie(https).name`) the cookie scheme names the real cookie.
 */
export const fromApi = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>,
  options: Options & { readonly cookieName?: string | undefined } = {}
): OpenApi.OpenAPISpec => {
  const spec = OpenApi.fromApi(documented(api, options))
  return options.cookieName === undefined ? spec : nameCookie(spec, options.cookieName)
}

/**
 * Serves `fromApi(api)` at `options.path` (public), naming the cookie the request's scheme gets
 * (`__Host-` over HTTPS). A route layer: merge it with your `HttpApiBuilder.layer` and hand both
 * to `HttpAuthLayer.layer`.
 */
export const layer = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>,
  options: Options & { readonly path: HttpRouter.PathInput }
) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const auth = yield* HttpAuth
    // One API value, so OpenApi.fromApi's cache (keyed by the API) computes the document once.
    const document = documented(api, options)
    yield* router.add("GET", options.path, (request) =>
      Effect.sync(() =>
        HttpServerResponse.jsonUnsafe(nameCookie(OpenApi.fromApi(document), auth.sessionCookie(request).name))
      ))
  }))
