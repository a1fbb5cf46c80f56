/**
 * The guard of MCP endpoints: agent processes present a per-thread credential from
 * `McpSessionRegistry` as a static `Authorization: Bearer` header, which they cannot refresh.
 *
 * `McpGuard.serve(handler)` protects an MCP endpoint: the Authorization header only (a token in
 * the query string is never read), the Origin check (the Host check is global), per-address
 * failure limits, and `401` with `WWW-Authenticate: Bearer resource_metadata="..."` (RFC 9728
 * §5.1) so a client can discover how to authenticate. The handler gets the `McpPrincipal` as the
 * `CurrentMcpPrincipal` service. The metadata document itself is served by `McpRoutes.layer`.
 *
 * With core's `OAuthAuthorizationServer` provided, the endpoint also accepts its access tokens (a
 * JWT whose `aud` is exactly this MCP resource, as derived from the Host the client used, and whose
 * grant is live): the principal then carries `oauth` (which client, approved by whom), so tool
 * handlers see which kind called them. Any other JWT (a session's access token) is refused here,
 * and the metadata names this server as the authorization server, with every URL derived from
 * the request's origin (see `OAuthMetadata`).
 */
import { AccessTokens, Hashing, McpSessionRegistry, OAuthAuthorizationServer, Scopes } from "@gatehouse-auth/core"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthError from "./AuthError.ts"
import { HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as OAuthMetadata from "./OAuthMetadata.ts"
import * as RequestInfo from "./RequestInfo.ts"
import * as RouteAccess from "./RouteAccess.ts"

/** The agent thread an MCP request speaks for. */
export class CurrentMcpPrincipal extends Context.Service<CurrentMcpPrincipal, McpSessionRegistry.McpPrincipal>()(
  "@gatehouse-auth/http/CurrentMcpPrincipal"
) {}

export const metadataPath = "/.well-known/oauth-protected-resource"

type Response = HttpServerResponse.HttpServerResponse

export interface McpGuardShape {
  /** `<origin>/.well-known/oauth-protected-resource<path>`, named in every 401 challenge. */
  readonly metadataUrl: string
  /** The RFC 9728 metadata document, for the server's own origin. */
  readonly metadata: Record<string, unknown>
  /** The RFC 9728 metadata document for the origin `request` used (see `OAuthMetadata`). */
  readonly metadataFor: (request: HttpServerRequest.HttpServerRequest) => Record<string, unknown>
  readonly serve: <E, R>(
    handler: Effect.Effect<Response, E, R>
  ) => Effect.Effect<Response, never, HttpServerRequest.HttpServerRequest | Exclude<R, CurrentMcpPrincipal>>
}

export class McpGuard extends Context.Service<McpGuard, McpGuardShape>()("@gatehouse-auth/http/McpGuard") {}

export interface Options {
  /** Shown to people in the metadata (`resource_name`). */
  readonly resourceName?: string | undefined
  /**
   * Scopes an OAuth access token must hold to reach the endpoint (default none). One that lacks
   * any is `403` with `WWW-Authenticate: Bearer error="insufficient_scope", scope="<missing>"`,
   * so the client can ask for them. Per-thread credentials are not affected.
   */
  readonly requiredScopes?: ReadonlyArray<string> | undefined
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
  const oauth = Option.getOrUndefined(yield* Effect.serviceOption(OAuthAuthorizationServer.OAuthAuthorizationServer))
  const endpoint = new URL(registry.endpoint)
  const mcpPath = endpoint.pathname
  const origin = settings.publicOrigin ?? endpoint.origin
  const suffix = mcpPath === "/" ? "" : mcpPath
  const metadataUrl = `${origin}${metadataPath}${suffix}`
  const resourceName = options.resourceName ?? "Gatehouse MCP endpoint"
  const requiredScopes = options.requiredScopes ?? []
  const documentFor = (base: string, authorizationServer: string | undefined) =>
    OAuthMetadata.protectedResourceMetadata({
      resource: `${base}${mcpPath}`,
      // Without the OAuth server no authorization server issues these credentials: the server
      // hands them to agents.
      authorizationServer,
      scopesSupported: oauth?.scopesSupported,
      resourceName,
      dpopAlgorithms: auth.dpopAlgorithms,
      dpopRequired: auth.dpopAlgorithms.length > 0 && settings.requireDpop
    })
  const metadata = documentFor(origin, oauth === undefined ? undefined : origin)
  const metadataFor = (request: HttpServerRequest.HttpServerRequest) => {
    const endpoints = OAuthMetadata.endpointsFor(request, settings, mcpPath)
    if (endpoints === undefined) return documentFor(origin, undefined)
    return documentFor(endpoints.origin, oauth === undefined ? undefined : endpoints.issuer)
  }
  const challengeFor = (request: HttpServerRequest.HttpServerRequest) => ({
    resource_metadata: OAuthMetadata.endpointsFor(request, settings, mcpPath)?.resourceMetadata ?? metadataUrl
  })

  /** An OAuth access token for exactly the resource this request reached, as a principal. */
  const oauthPrincipal = (request: HttpServerRequest.HttpServerRequest, token: Redacted.Redacted<string>) => {
    const resource = OAuthMetadata.endpointsFor(request, settings, mcpPath)?.resource
    if (oauth === undefined || resource === undefined) return Effect.succeed(Option.none())
    return Effect.map(
      oauth.verifyAccessToken(token, resource),
      Option.map((principal): McpSessionRegistry.McpPrincipal & { readonly jkt?: string | undefined } => ({
        ...(principal.jkt === undefined ? {} : { jkt: principal.jkt }),
        threadId: `oauth:${principal.sid}`,
        providerInstanceId: principal.clientId,
        capabilities: principal.scopes,
        oauth: {
          clientId: principal.clientId,
          clientName: principal.clientName,
          grantId: principal.sid,
          subject: principal.subject
        }
      }))
    )
  }

  const authenticate = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const challenge = challengeFor(request)
    const metadataUrl = challenge.resource_metadata
    yield* auth.checkOrigin
    const dpopScheme = auth.dpopAlgorithms.length > 0 && RequestInfo.isDpopScheme(request)
    const presented = dpopScheme ? RequestInfo.dpopToken(request) : RequestInfo.bearerToken(request)
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
    // DPoP (OAuth tokens only: a per-thread credential is a static bearer header): the proof
    // first, then the token, then the binding, then the proof's `jti` is used up.
    const proof = dpopScheme ? yield* auth.resourceProof(Redacted.value(presented.token)) : Option.none()
    const found: Option.Option<McpSessionRegistry.McpPrincipal & { readonly jkt?: string | undefined }> =
      AccessTokens.looksLikeJwt(Redacted.value(presented.token))
        ? yield* oauthPrincipal(request, presented.token)
        : dpopScheme
        ? Option.none()
        : yield* registry.resolve(presented.token)
    if (Option.isSome(found) && auth.dpopAlgorithms.length === 0 && found.value.jkt !== undefined) {
      // No verifier (DPoP turned off): a bound token cannot be checked, so it is not accepted.
      return yield* auth.failCredential(
        AuthError.invalidCredential("This credential is bound to a DPoP key, which this server cannot check", challenge)
      )
    }
    if (Option.isSome(found) && auth.dpopAlgorithms.length > 0) {
      const bound = found.value.jkt
      const key = Option.getOrUndefined(Option.map(proof, (verified) => verified.jkt))
      if (bound === undefined ? key !== undefined : key === undefined || !Hashing.constantTimeEqualString(bound, key)) {
        return yield* auth.failCredential(
          AuthError.invalidDpopToken(
            bound === undefined
              ? "This credential is not bound to a DPoP key: send it as Bearer"
              : "This credential is bound to a DPoP key: send it as Authorization: DPoP with a proof by it",
            auth.dpopAlgorithms
          )
        )
      }
      if (Option.isSome(proof)) yield* auth.consumeProof(proof.value, "resource")
    }
    const principal = Option.map(found, ({ jkt: _, ...principal }): McpSessionRegistry.McpPrincipal => principal)
    const missing = principal._tag === "Some" && principal.value.oauth !== undefined
      ? Scopes.missing(principal.value.capabilities, requiredScopes)
      : []
    if (missing.length > 0) {
      return yield* new AuthError.HttpAuthError({
        status: 403,
        code: "insufficient_scope",
        message: `This needs the scope ${missing.join(" ")}`,
        headers: {
          "www-authenticate": AuthError.bearerChallengeHeader({
            error: "insufficient_scope",
            scope: missing.join(" "),
            resource_metadata: metadataUrl
          })
        }
      })
    }
    if (Option.isNone(principal)) {
      return yield* auth.failCredential(AuthError.invalidCredential("The MCP credential is not valid", challenge))
    }
    return { principal: principal.value, bound: Option.isSome(proof) }
  })

  // With a verifier, every 401 names DPoP (and its algorithms) beside the Bearer challenge.
  const authenticateChallenged = auth.dpopAlgorithms.length === 0 ? authenticate : Effect.mapError(
    authenticate,
    (error) =>
      error._tag !== "HttpAuthError" || error.headers?.["www-authenticate"]?.includes("DPoP ") === true
        ? error
        : AuthError.withDpopChallenge(error, auth.dpopAlgorithms)
  )

  const serve = <E, R>(handler: Effect.Effect<Response, E, R>) =>
    RouteAccess.declare(auth.respond(
      Effect.flatMap(authenticateChallenged, ({ bound, principal }) =>
        Effect.flatMap(
          Effect.provideService(handler, CurrentMcpPrincipal, principal),
          // A bound request's answer carries the next nonce.
          (response) => bound ? auth.withDpopNonce(response) : Effect.succeed(response)
        ))
    ))

  return McpGuard.of({ metadataUrl, metadata, metadataFor, serve })
})

/** Needs `HttpAuth`, `HttpAuthSettings` and core's `McpSessionRegistry`. */
export const layer = (options: Options = {}) => Layer.effect(McpGuard, make(options))
