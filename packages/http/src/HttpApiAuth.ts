/**
 * Gatehouse for `effect/http-api`: the `Authentication` security middleware, and `requireScopes` to
 * declare what an endpoint needs.
 *
 *   const Notes = HttpApiGroup.make("notes").add(
 *     HttpApiEndpoint.get("list", "/api/notes", { success: ... }).pipe(HttpApiAuth.requireScopes("read:notes"))
 *   )
 *   HttpApiBuilder.layer(Api).pipe(Layer.provide(NotesHandlers), Layer.provide(HttpApiAuth.layer))
 *
 * The middleware resolves the request through `HttpAuth.authenticate` (session cookie first, then
 * `Authorization: Bearer`; the Origin check of cookie-authenticated unsafe requests; per-address
 * failure limits; `Authorization: DPoP` with its proof when a `DpopVerifier` is provided, and then
 * the answer carries `DPoP-Nonce`), checks the endpoint's scopes and gives the handler
 * `HttpAuth.CurrentSession`. A refusal is `AuthError`'s response, the same bytes and headers the `/api/auth/*` routes send.
 */
import { Scopes } from "@gatehouse-auth/core"
import { Context, Effect, Layer, Schema } from "effect"
import { HttpApiMiddleware, HttpApiSecurity, OpenApi } from "effect/http-api"
import type { HttpApiEndpoint } from "effect/http-api"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
import { CurrentSession, HttpAuth } from "./HttpAuth.ts"

const ErrorBody = AuthApi.ErrorResponse.fields.error

// The middleware answers refusals itself (see `layer`), so these classes never fail a handler on the
// server: they put the contract's error responses in the OpenAPI document and let a typed client
// decode them. Each encodes to `{ "error": { "code", "message" } }`, as `AuthError.toResponse` writes.

/** 401: `missing_credential`, `invalid_credential` or `expired_credential`. */
export class Unauthorized extends Schema.Error<Unauthorized>("GatehouseUnauthorized")({ error: ErrorBody }, {
  httpApiStatus: 401,
  description: "No valid session: missing_credential, invalid_credential or expired_credential"
}) {}

/** 403: `insufficient_scope` (the message names the missing scopes), `origin_not_allowed`, ... */
export class Forbidden extends Schema.Error<Forbidden>("GatehouseForbidden")({ error: ErrorBody }, {
  httpApiStatus: 403,
  description: "insufficient_scope (names the missing scopes), origin_not_allowed, forbidden or guest_revoked"
}) {}

/** 429 `rate_limited`, with `Retry-After`. */
export class TooManyRequests extends Schema.Error<TooManyRequests>("GatehouseTooManyRequests")({ error: ErrorBody }, {
  httpApiStatus: 429,
  description: "rate_limited: too many credential failures from this address (see Retry-After)"
}) {}

/** 503 `service_unavailable`, with `Retry-After`. */
export class ServiceUnavailable
  extends Schema.Error<ServiceUnavailable>("GatehouseServiceUnavailable")({ error: ErrorBody }, {
    httpApiStatus: 503,
    description: "service_unavailable: the server cannot reach its storage (see Retry-After)"
  })
{}

/**
 * The session cookie. Its name depends on the server (`gatehouse_session_<port>` over HTTP,
 * `__Host-gatehouse_session` over HTTPS), so the declared one is a placeholder: `AuthOpenApi.layer`
 * serves a document naming the request's real cookie, and `GET /api/auth/session` reports it.
 */
const cookieScheme = HttpApiSecurity.apiKey({ in: "cookie", key: "gatehouse_session_<port>" }).pipe(
  HttpApiSecurity.annotate(
    OpenApi.Description,
    "The session cookie set by POST /api/auth/bootstrap: gatehouse_session_<port> over HTTP, " +
      "__Host-gatehouse_session over HTTPS (GET /api/auth/session names it: auth.sessionCookieName)"
  )
)

const bearerScheme = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "A session token from POST /api/auth/bootstrap/bearer")
)

/**
 * The security middleware: a session by cookie or bearer token, with the scopes `requireScopes`
 * declared on the endpoint. Provides `HttpAuth.CurrentSession`. Implemented by `layer`.
 */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentSession }>()(
  "@gatehouse-auth/http/HttpApiAuth/Authentication",
  {
    security: { gatehouseCookie: cookieScheme, gatehouseBearer: bearerScheme },
    error: [Unauthorized, Forbidden, TooManyRequests, ServiceUnavailable]
  }
) {}

/** The scopes an endpoint requires (an endpoint annotation); `requireScopes` sets it. */
export class RequiredScopes extends Context.Service<RequiredScopes, ReadonlyArray<string>>()(
  "@gatehouse-auth/http/HttpApiAuth/RequiredScopes"
) {}

const schemeNames = new Set(Object.keys(Authentication.security))

/** Lists `scopes` in an operation's Gatehouse security requirements (OpenAPI 3.1 allows it for any scheme). */
const documentScopes = (scopes: ReadonlyArray<string>) => (operation: Record<string, any>): Record<string, any> => ({
  ...operation,
  security: (operation.security ?? []).map((requirement: Record<string, ReadonlyArray<string>>) =>
    Object.fromEntries(
      Object.entries(requirement).map(([name, value]) => [name, schemeNames.has(name) ? [...scopes] : value])
    )
  )
})

/**
 * Protects an endpoint: adds the `Authentication` middleware and requires every scope given (none:
 * any session). Applied twice, the scopes add up. The scopes appear in the OpenAPI document through
 * an `OpenApi.Transform` annotation, composed after one already present (a Transform annotated
 * later replaces it: annotate yours first).
 *
 *   HttpApiEndpoint.post("create", "/api/notes", { ... }).pipe(HttpApiAuth.requireScopes("write:notes"))
 */
export const requireScopes = (...scopes: ReadonlyArray<string>) => {
  const invalid = scopes.filter((scope) => !Scopes.isScope(scope))
  // A misspelt scope could never be granted: say so where the API is declared, not with a 403 later.
  if (invalid.length > 0) throw new Error(`HttpApiAuth.requireScopes: not a scope: ${invalid.join(", ")}`)
  return <Endpoint extends HttpApiEndpoint.Constraint>(
    endpoint: Endpoint
  ): HttpApiEndpoint.AddMiddleware<Endpoint, Authentication> => {
    const self = endpoint as unknown as HttpApiEndpoint.Top
    const required = [...new Set([...Context.getOrElse(self.annotations, RequiredScopes, () => []), ...scopes])]
    const previous = Context.getOption(self.annotations, OpenApi.Transform)
    const transform = documentScopes(required)
    return self.middleware(Authentication).annotate(RequiredScopes, required).annotate(
      OpenApi.Transform,
      previous._tag === "Some" ? (operation) => transform(previous.value(operation)) : transform
    ) as any
  }
}

/**
 * The `Authentication` middleware on `HttpAuth` (which `HttpAuthLayer.layer` provides to the routes
 * it serves): provide it to the `HttpApiBuilder` layers of your API.
 */
export const layer: Layer.Layer<Authentication, never, HttpAuth> = Layer.effect(
  Authentication,
  Effect.gen(function*() {
    const auth = yield* HttpAuth

    const authorize = Effect.fn("HttpApiAuth.authorize")(function*(scopes: ReadonlyArray<string>) {
      const authenticated = yield* auth.authenticate
      const missing = Scopes.missing(authenticated.session.scopes, scopes)
      if (missing.length > 0) return yield* AuthError.insufficientScope(missing)
      return authenticated
    })

    // HttpAuth reads both credentials itself (cookie first; a stale cookie never shadows a bearer
    // token), so one implementation serves both schemes. It never fails: a refusal is answered here
    // (`auth.respond` also logs an outage), so HttpApiBuilder does not try the next scheme, which
    // would authenticate again and count a bad credential twice against the address.
    const middleware: Authentication["Service"]["gatehouseCookie"] = (httpEffect, { endpoint }) =>
      Effect.matchEffect(authorize(Context.getOrElse(endpoint.annotations, RequiredScopes, () => [])), {
        onFailure: (error) => auth.respond(Effect.fail(error)),
        onSuccess: (authenticated) =>
          authenticated.dpopKey === undefined
            ? Effect.provideService(httpEffect, CurrentSession, authenticated)
            // A DPoP-bound request's answer carries the next nonce.
            : Effect.flatMap(Effect.provideService(httpEffect, CurrentSession, authenticated), auth.withDpopNonce)
      })

    return Authentication.of({ gatehouseCookie: middleware, gatehouseBearer: middleware })
  })
)
