/**
 * Request authentication for routes: resolve `HttpAuth` once when a route layer is built, then wrap
 * handlers with `requireScopes([...])` (or `requireSession`). The wrapper authenticates the request
 * (session cookie first, then `Authorization: Bearer`; never the query string), checks the Origin of
 * cookie-authenticated unsafe requests, applies per-address failure limits, and gives the handler
 * the session as the `CurrentSession` service. Every error becomes the contract's error response.
 *
 * DPoP (RFC 9449), when a `DpopVerifier` is provided: `Authorization: DPoP <token>` with a `DPoP`
 * proof is checked in this order, so that nothing unauthenticated can fill the replay store: the
 * proof (method, public URL, `ath` of the token, nonce), then the token, then that the credential
 * is bound to the proof's key (an access token's `cnf.jkt`, else its session's `jkt`), and only
 * then the proof's `jti` is used up (a store failure is a 503). A bound credential presented as
 * `Bearer` is refused (`invalid_token`), and so is an unbound one presented as `DPoP`: the scheme
 * says what the client believes, and a mismatch is a bug or a theft. Every 401 then carries a
 * `DPoP` challenge beside the `Bearer` one, and a response to a bound request carries the next
 * `DPoP-Nonce`. Endpoints that issue tokens (`requireIssuingSession`) answer proof failures with a
 * 400 in the RFC 6749 shape instead, and also accept an unbound `Bearer` session with a proof: the
 * credential they mint is bound to the proof's key.
 *
 *   HttpRouter.use(Effect.fnUntraced(function*(router) {
 *     const auth = yield* HttpAuth
 *     yield* router.add("GET", "/api/hello", auth.requireScopes(["read:hello"])(
 *       Effect.map(CurrentSession, ({ session }) => HttpServerResponse.jsonUnsafe({ hello: session.subject }))
 *     ))
 *   }))
 */
import { Admission, DpopVerifier, Hashing, Scopes, ServerAuth, ServerAuthPolicy } from "@gatehouse-auth/core"
import { Cause, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthError from "./AuthError.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import { RateLimiter } from "./RateLimiter.ts"
import * as RequestInfo from "./RequestInfo.ts"
import type * as ResourceAccess from "./ResourceAccess.ts"
import { decide } from "./ResourceAccess.ts"
import * as RouteAccess from "./RouteAccess.ts"

/** The authenticated session of the current request. */
export class CurrentSession extends Context.Service<CurrentSession, ServerAuth.Authenticated>()(
  "@gatehouse-auth/http/CurrentSession"
) {}

type Request = HttpServerRequest.HttpServerRequest
type Response = HttpServerResponse.HttpServerResponse

type Decoder = Schema.ConstraintDecoder<unknown>
type Params = Readonly<Record<string, string | undefined>>

/** What `requireAccess` checks: see `ResourceAccess`. */
export interface AccessOptions<I> {
  /** The scope's action: `write` makes `write:<type>:<id>`. */
  readonly action: string
  /** Built only by `ResourceAccess.anyResource` or `everyResource` (a plain array does not type-check). */
  readonly resources: ResourceAccess.Resources<I>
  /** Scopes that pass this route whatever the resources (`write:runs`); `admin` always passes. */
  readonly superScopes?: ReadonlyArray<string> | undefined
}

/** How `decoding` reads a request before `requireAccess` decides. */
export interface InputOptions<B, P> {
  /** The JSON body's Schema (400 on a bad body, in `JsonBody`'s terms). */
  readonly body?: Schema.ConstraintDecoder<B> | undefined
  /** Describes the body in the 400 message (`{"task": "..."}`). */
  readonly expected?: string | undefined
  /** The path parameters' Schema; without it they are the raw record. Parameters it refuses are a 404. */
  readonly params?: Schema.ConstraintDecoder<P> | undefined
}

export type AccessGuard<I> = (options: AccessOptions<I>) => <E, R>(
  handler: (input: I) => Effect.Effect<Response, E, R>
) => Effect.Effect<Response, never, Request | HttpRouter.RouteContext | Exclude<R, CurrentSession>>

export interface HttpAuthShape {
  /** Authenticates the current request; fails with the response-ready error. */
  readonly authenticate: Effect.Effect<ServerAuth.Authenticated, AuthError.HttpAuthError, Request>
  /**
   * `authenticate` for an endpoint that issues tokens: DPoP proof failures are 400s in the RFC 6749
   * shape, and an unbound bearer session may send a proof (`dpopKey` then names its key).
   */
  readonly authenticateIssuing: Effect.Effect<ServerAuth.Authenticated, AuthError.HttpAuthError, Request>
  /** `requireSession` over `authenticateIssuing`. */
  readonly requireIssuingSession: <E, R>(
    handler: Effect.Effect<Response, E, R>
  ) => Effect.Effect<Response, never, Request | Exclude<R, CurrentSession>>
  /**
   * The proof of a request that presents no token yet (the bearer bootstrap): `None` without a
   * `DPoP` header or without a `DpopVerifier`, else the verified proof (not yet used up: call
   * `consumeProof` once the rest checked out). Failures are 400s in the RFC 6749 shape.
   */
  readonly tokenlessProof: Effect.Effect<
    Option.Option<DpopVerifier.VerifiedProof>,
    AuthError.HttpAuthError,
    Request
  >
  /**
   * The proof that came with `token` at a resource (for a guard of its own, like `McpGuard`):
   * `None` without a verifier, else verified with `ath` (not yet used up); failures are 401s.
   */
  readonly resourceProof: (
    token: string
  ) => Effect.Effect<Option.Option<DpopVerifier.VerifiedProof>, AuthError.HttpAuthError, Request>
  /**
   * Uses a verified proof's `jti` up, once the credential and its binding checked out: a replay
   * is `invalid_dpop_proof` (400 at an endpoint that `issues`, the default; 401 at a resource), a
   * store failure 503.
   */
  readonly consumeProof: (
    proof: DpopVerifier.VerifiedProof,
    site?: AuthError.DpopSite
  ) => Effect.Effect<void, AuthError.HttpAuthError>
  /** The algorithms of the `DPoP` challenge; empty without a verifier (then no DPoP challenge). */
  readonly dpopAlgorithms: ReadonlyArray<string>
  /** Adds the next `DPoP-Nonce` to a response (when a verifier with nonces is provided). */
  readonly withDpopNonce: (response: Response) => Effect.Effect<Response>
  readonly requireSession: <E, R>(
    handler: Effect.Effect<Response, E, R>
  ) => Effect.Effect<Response, never, Request | Exclude<R, CurrentSession>>
  readonly requireScopes: (
    scopes: ReadonlyArray<string>
  ) => <E, R>(
    handler: Effect.Effect<Response, E, R>
  ) => Effect.Effect<Response, never, Request | Exclude<R, CurrentSession>>
  /**
   * Resource-level authorization (see `ResourceAccess`): authenticates (401), computes the
   * resources from the request's path parameters and checks the caller's scopes (403
   * `insufficient_scope` naming what is missing), then runs `handler` with `CurrentSession`.
   * For a body, decode it first: `decoding({ body }).requireAccess(...)`.
   */
  readonly requireAccess: AccessGuard<ResourceAccess.AccessInput<undefined, Params>>
  /**
   * `requireAccess` over a decoded request: after authentication the body and path parameters are
   * decoded with these Schemas, and the resources (and the handler) receive them.
   */
  readonly decoding: <B = undefined, P = Params>(
    input: InputOptions<B, P>
  ) => { readonly requireAccess: AccessGuard<ResourceAccess.AccessInput<B, P>> }
  /** Maps every failure of a handler to the contract's error response (500 for the unexpected). */
  readonly respond: <E, R>(handler: Effect.Effect<Response, E, R>) => Effect.Effect<Response, never, R>
  /**
   * `respond`, and the route is public on purpose: with `denyByDefault` (`RouteAccess`), a handler
   * that is neither guarded nor `public` requires a session.
   */
  readonly public: <E, R>(handler: Effect.Effect<Response, E, R>) => Effect.Effect<Response, never, R>
  /** 403 `origin_not_allowed` unless the request's Origin is absent, ours or allowed. */
  readonly checkOrigin: Effect.Effect<void, AuthError.HttpAuthError, Request>
  /**
   * Runs `effect`, which evaluates a pairing (bootstrap) code, against the client's `pairing`
   * budget: a token is reserved before the code is looked at (429 at once, valid code or not, when
   * none is left), kept when the code is refused (a 401) and given back otherwise. However many
   * requests arrive in parallel, no more codes than the capacity are evaluated at once, and no
   * more than the capacity are refused per window. It then takes a turn of the unauthenticated
   * gate (`maxConcurrentUnauthenticated`): when that is full the answer is 503 with `Retry-After`
   * and the budget's token is given back, since nothing was guessed.
   */
  readonly pairingAttempt: <A, E extends AuthError.Mappable, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, AuthError.HttpAuthError, R | Request>
  /**
   * Runs `effect`, a guest-session request (see `GuestRoutes`), against the client's `guest`
   * budget: a token is reserved first (429 at once when none is left) and given back when
   * `spent(result)` is false (a guest found by its cookie, or nothing looked at) or the effect
   * fails; it runs through the unauthenticated gate, as a pairing attempt does.
   */
  readonly guestAttempt: <A, E extends AuthError.Mappable, R>(
    effect: Effect.Effect<A, E, R>,
    spent: (result: A) => boolean
  ) => Effect.Effect<A, AuthError.HttpAuthError, R | Request>
  /**
   * Counts a refused credential (session cookie, bearer token, ticket, MCP credential) against the
   * client's `token` budget, then fails with `error` (429 instead once that budget is used up). For
   * a failure decided here; a core call's: `countFailures`. A valid credential is never refused by
   * this budget, and it is apart from the pairing budget: junk cookies cannot lock out a code.
   */
  readonly failCredential: (error: AuthError.HttpAuthError) => Effect.Effect<never, AuthError.HttpAuthError, Request>
  /**
   * Maps the failures of a core call onto the contract; a refused credential (a 401, but not a
   * missing one: presenting nothing is no guess) also counts against the client's address, as
   * `failCredential`. The one rule for every place that checks a session credential.
   */
  readonly countFailures: <A, E extends AuthError.Mappable, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, AuthError.HttpAuthError, R | Request>
  readonly sessionCookie: (request: Request) => ServerAuthPolicy.CookieAttributes
  readonly setSessionCookie: (
    request: Request,
    response: Response,
    token: Redacted.Redacted<string>,
    expiresAt: number
  ) => Effect.Effect<Response>
  readonly clearSessionCookie: (request: Request, response: Response) => Effect.Effect<Response>
}

export class HttpAuth extends Context.Service<HttpAuth, HttpAuthShape>()("@gatehouse-auth/http/HttpAuth") {}

/** The `Set-Cookie` attributes of a cookie the policy describes (the policy alone decides them). */
export const cookieOptions = (cookie: ServerAuthPolicy.CookieAttributes) => ({
  httpOnly: cookie.httpOnly,
  secure: cookie.secure,
  sameSite: cookie.sameSite,
  path: cookie.path
})

export const make = Effect.gen(function*() {
  const serverAuth = yield* ServerAuth.ServerAuth
  const policy = yield* ServerAuthPolicy.ServerAuthPolicy
  const settings = yield* HttpAuthSettings
  const limiter = yield* RateLimiter
  const unauthenticated = yield* Admission.make({
    name: "unauthenticated",
    maxConcurrent: settings.maxConcurrentUnauthenticated,
    maxQueued: settings.maxQueuedUnauthenticated,
    maxWait: "1 second"
  }).pipe(Effect.orDie)

  const sessionCookie = (request: Request) => policy.sessionCookie(RequestInfo.isHttps(request))

  const checkOrigin = Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) =>
      RequestInfo.isOriginAllowed(request, settings.allowedOrigins, settings.publicOrigin)
        ? Effect.void
        : Effect.fail(AuthError.originNotAllowed())
  )

  /** A 401 for a credential that was presented and refused (presenting nothing is no guess). */
  const isRefused = (error: AuthError.HttpAuthError) => error.status === 401 && error.code !== "missing_credential"

  /**
   * Reserves a token of `budget` for the client's address (429 when none is left), runs `effect`
   * through the unauthenticated gate, and gives the token back unless the answer spent it. An
   * interrupted or defective attempt keeps its token: only an answer gives it back.
   */
  const budgeted = <A, E extends AuthError.Mappable, R>(
    budget: "pairing" | "guest",
    effect: Effect.Effect<A, E, R>,
    spent: {
      readonly onSuccess: (result: A) => boolean
      readonly onFailure: (error: AuthError.HttpAuthError) => boolean
    }
  ) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const address = RequestInfo.clientAddress(request)
      const refund = limiter.refund(budget, address)
      return Effect.flatMap(limiter.reserve(budget, address), (wait) =>
        wait > 0
          ? Effect.fail(AuthError.rateLimited(wait))
          : unauthenticated.run(effect).pipe(
            Effect.mapError(AuthError.fromCoreError),
            Effect.tap((result) => spent.onSuccess(result) ? Effect.void : refund),
            Effect.tapError((error) => spent.onFailure(error) ? Effect.void : refund)
          ))
    })

  // A refused code keeps its token; an accepted one, or none evaluated (a 503), gives it back.
  const pairingAttempt = <A, E extends AuthError.Mappable, R>(effect: Effect.Effect<A, E, R>) =>
    budgeted("pairing", effect, { onSuccess: () => false, onFailure: isRefused })

  const guestAttempt = <A, E extends AuthError.Mappable, R>(
    effect: Effect.Effect<A, E, R>,
    spent: (result: A) => boolean
  ) => budgeted("guest", effect, { onSuccess: spent, onFailure: () => false })

  const failCredential = (error: AuthError.HttpAuthError) =>
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        Effect.flatMap(
          limiter.reserve("token", RequestInfo.clientAddress(request)),
          // No token left: the answer is 429, whatever was wrong with the credential.
          (wait) => Effect.fail(wait > 0 ? AuthError.rateLimited(wait) : error)
        )
    )

  const countFailures = <A, E extends AuthError.Mappable, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.catch(effect, (error) => {
      const mapped = AuthError.fromCoreError(error)
      return isRefused(mapped) ? failCredential(mapped) : Effect.fail(mapped)
    })

  const verify = (presented: RequestInfo.Presented, via: "cookie" | "bearer") => {
    // Not a guess, so not counted: the owner's browser is the victim of another local page.
    if (presented._tag === "Ambiguous") return Effect.fail(AuthError.ambiguousCookie())
    if (presented._tag !== "Token") {
      return failCredential(
        AuthError.invalidCredential(`The ${via === "cookie" ? "session cookie" : "bearer token"} is malformed`)
      )
    }
    const credentials = via === "cookie" ? { cookie: presented.token } : { bearer: presented.token }
    return countFailures(serverAuth.authenticateHttpRequest(credentials))
  }

  const dpop = Option.getOrUndefined(yield* Effect.serviceOption(DpopVerifier.DpopVerifier))
  const algorithms = dpop?.algorithms ?? []

  /** The proof of this request, verified (not yet used up); failures in the site's shape. */
  const verifyProof = (
    verifier: DpopVerifier.DpopVerifierShape,
    request: Request,
    site: AuthError.DpopSite,
    accessToken: string | undefined
  ) =>
    verifier.verify({
      proofs: RequestInfo.dpopProofs(request),
      method: request.method,
      url: RequestInfo.publicUrl(request, settings.publicOrigin),
      accessToken
    }).pipe(
      Effect.catchTags({
        DpopNonceRequired: () =>
          Effect.flatMap(verifier.nonce, (nonce) => Effect.fail(AuthError.useDpopNonce(site, nonce, algorithms))),
        // A bad proof is a refused credential: it counts against the address like a bad token.
        InvalidDpopProof: () => failCredential(AuthError.invalidDpopProof(site, algorithms))
      })
    )

  const consumeWith =
    (verifier: DpopVerifier.DpopVerifierShape, site: AuthError.DpopSite) => (proof: DpopVerifier.VerifiedProof) =>
      verifier.consume(proof).pipe(
        Effect.mapError((error) =>
          error._tag === "InvalidDpopProof"
            ? AuthError.invalidDpopProof(site, algorithms)
            : AuthError.fromCoreError(error)
        )
      )

  /** The key a credential is bound to: an access token's `cnf.jkt`, a session token's session's `jkt`. */
  const boundKey = (authenticated: ServerAuth.Authenticated) =>
    authenticated.via === "access-token" ? authenticated.accessToken?.jkt : authenticated.session.jkt

  /** `Authorization: DPoP`: the proof, the token, the binding, then the `jti` (see the module comment). */
  const viaDpop = (
    verifier: DpopVerifier.DpopVerifierShape,
    request: Request,
    presented: RequestInfo.Presented,
    site: AuthError.DpopSite
  ) =>
    Effect.gen(function*() {
      if (presented._tag !== "Token") {
        return yield* failCredential(AuthError.invalidDpopToken("The DPoP-bound token is malformed", algorithms))
      }
      const token = Redacted.value(presented.token)
      const proof = yield* verifyProof(verifier, request, site, token)
      const authenticated = yield* countFailures(serverAuth.authenticateHttpRequest({ bearer: presented.token }))
      const bound = boundKey(authenticated)
      if (bound === undefined) {
        return yield* failCredential(
          AuthError.invalidDpopToken("This credential is not bound to a DPoP key: send it as Bearer", algorithms)
        )
      }
      if (!Hashing.constantTimeEqualString(bound, proof.jkt)) {
        return yield* failCredential(
          AuthError.invalidDpopToken("This credential is bound to another DPoP key", algorithms)
        )
      }
      yield* consumeWith(verifier, site)(proof)
      return { ...authenticated, dpopKey: proof.jkt }
    })

  /**
   * A credential that verified as a cookie or `Bearer`: refused when it is bound (a copy of a
   * bound token is worthless without the key). At an endpoint that issues tokens, an unbound
   * bearer session may come with a proof, whose key what it mints is bound to.
   */
  const afterBearer = (
    request: Request,
    site: AuthError.DpopSite,
    presented: RequestInfo.Presented
  ) =>
  (authenticated: ServerAuth.Authenticated): Effect.Effect<ServerAuth.Authenticated, AuthError.HttpAuthError> => {
    if (boundKey(authenticated) !== undefined || authenticated.session.jkt !== undefined) {
      // Refused without a verifier too: turning DPoP off must not make bound credentials bearer ones.
      const message = "This credential is bound to a DPoP key: send it as Authorization: DPoP with a proof"
      return failCredential(
        dpop === undefined ? AuthError.invalidCredential(message) : AuthError.invalidDpopToken(message, algorithms)
      ).pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request))
    }
    if (dpop === undefined) return Effect.succeed(authenticated)
    if (site !== "issues" || authenticated.via !== "bearer" || presented._tag !== "Token") {
      return Effect.succeed(authenticated)
    }
    if (request.headers["dpop"] === undefined) {
      return required ? Effect.fail(proofRequired()) : Effect.succeed(authenticated)
    }
    return verifyProof(dpop, request, site, Redacted.value(presented.token)).pipe(
      Effect.tap(consumeWith(dpop, site)),
      Effect.map((proof) => ({ ...authenticated, dpopKey: proof.jkt })),
      Effect.provideService(HttpServerRequest.HttpServerRequest, request)
    )
  }

  const authenticateAt = (
    site: AuthError.DpopSite
  ): Effect.Effect<ServerAuth.Authenticated, AuthError.HttpAuthError, Request> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const checked = authenticateChecked(request, site)
      // Every 401 says that DPoP is spoken here, and with which algorithms.
      return dpop === undefined
        ? checked
        : Effect.mapError(
          checked,
          (error) =>
            error.headers?.["www-authenticate"]?.includes("DPoP ") === true
              ? error
              : AuthError.withDpopChallenge(error, algorithms)
        )
    })

  const authenticateChecked = (
    request: Request,
    site: AuthError.DpopSite
  ): Effect.Effect<ServerAuth.Authenticated, AuthError.HttpAuthError, Request> => {
    if (dpop !== undefined && policy.policy !== "unsafe-no-auth" && RequestInfo.isDpopScheme(request)) {
      // The scheme is explicit: a cookie sent alongside is not looked at.
      return viaDpop(dpop, request, RequestInfo.dpopToken(request), site)
    }
    const bearer = RequestInfo.bearerToken(request)
    return Effect.flatMap(authenticateClassic(request), afterBearer(request, site, bearer))
  }

  const authenticateClassic = (
    request: Request
  ): Effect.Effect<ServerAuth.Authenticated, AuthError.HttpAuthError, Request> => {
    if (policy.policy === "unsafe-no-auth") {
      // Everyone is the administrator, so any page the owner opens could act as one: unsafe
      // methods still need an allowed Origin (the Host guard stays on too, see AuthMiddleware).
      const everyone = serverAuth.authenticateHttpRequest({}).pipe(Effect.mapError(AuthError.fromCoreError))
      return RequestInfo.isUnsafeMethod(request) ? Effect.andThen(checkOrigin, everyone) : everyone
    }
    const cookie = RequestInfo.cookieValue(request, sessionCookie(request).name)
    const bearer = RequestInfo.bearerToken(request)
    if (cookie._tag !== "None") {
      // A cookie rides along on cross-site requests: unsafe ones must come from an allowed origin.
      const viaCookie = RequestInfo.isUnsafeMethod(request)
        ? Effect.andThen(checkOrigin, verify(cookie, "cookie"))
        : verify(cookie, "cookie")
      // A stale cookie must not shadow a good bearer token sent alongside it.
      return bearer._tag === "None" ? viaCookie : Effect.catch(viaCookie, () => verify(bearer, "bearer"))
    }
    if (bearer._tag !== "None") return verify(bearer, "bearer")
    return Effect.fail(AuthError.missingCredential())
  }

  const authenticate = authenticateAt("resource")
  const authenticateIssuing = authenticateAt("issues")

  const withDpopNonce = (response: Response): Effect.Effect<Response> =>
    dpop === undefined || !dpop.noncesRequired
      ? Effect.succeed(response)
      : Effect.map(dpop.nonce, (nonce) => HttpServerResponse.setHeader(response, "dpop-nonce", nonce))

  /** A bound request's response carries the next nonce. */
  const nonceFor = (authenticated: ServerAuth.Authenticated) => (response: Response) =>
    authenticated.dpopKey === undefined ? Effect.succeed(response) : withDpopNonce(response)

  /** With `requireDpop`, an endpoint that issues tokens refuses a request without a proof. */
  const required = dpop !== undefined && settings.requireDpop
  const proofRequired = AuthError.dpopProofRequired

  const tokenlessProof = Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request): Effect.Effect<Option.Option<DpopVerifier.VerifiedProof>, AuthError.HttpAuthError, Request> =>
      dpop === undefined
        ? Effect.succeedNone
        : request.headers["dpop"] === undefined
        ? required ? Effect.fail(proofRequired()) : Effect.succeedNone
        : Effect.map(verifyProof(dpop, request, "issues", undefined), Option.some)
  )

  const consumeProof = (
    proof: DpopVerifier.VerifiedProof,
    site: AuthError.DpopSite = "issues"
  ): Effect.Effect<void, AuthError.HttpAuthError> => dpop === undefined ? Effect.void : consumeWith(dpop, site)(proof)

  const resourceProof = (token: string) =>
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request): Effect.Effect<Option.Option<DpopVerifier.VerifiedProof>, AuthError.HttpAuthError, Request> =>
        dpop === undefined
          ? Effect.succeedNone
          : Effect.map(verifyProof(dpop, request, "resource", token), Option.some)
    )

  const respond = <E, R>(handler: Effect.Effect<Response, E, R>): Effect.Effect<Response, never, R> =>
    handler.pipe(
      Effect.catchCause((cause) => {
        // The handler's error type is open (the application's own errors join the core's), so the
        // failure is recognised at run time; anything unknown, or a defect, is a 500.
        const failure = Cause.findErrorOption(cause)
        const error = failure._tag === "Some" && AuthError.isMappable(failure.value)
          ? AuthError.fromCoreError(failure.value)
          : AuthError.internalError()
        // An outage (503) is expected and already explained by its message: one line, not a trace
        // per request. Anything else 5xx is a bug: log the whole cause.
        const log = error.status === 503
          ? Effect.logWarning(`Request refused: ${error.message}`)
          : error.status >= 500
          ? Effect.logError("Request failed", cause)
          : Effect.void
        return Effect.as(log, AuthError.toResponse(error))
      })
    )

  const requireScopes = (scopes: ReadonlyArray<string>) =>
  <E, R>(
    handler: Effect.Effect<Response, E, R>
  ): Effect.Effect<Response, never, Request | Exclude<R, CurrentSession>> =>
    RouteAccess.declare(respond(
      Effect.flatMap(
        authenticate,
        (authenticated): Effect.Effect<Response, E | AuthError.HttpAuthError, Exclude<R, CurrentSession>> => {
          const missing = Scopes.missing(authenticated.session.scopes, scopes)
          return missing.length > 0
            ? Effect.fail(AuthError.insufficientScope(missing))
            : Effect.flatMap(Effect.provideService(handler, CurrentSession, authenticated), nonceFor(authenticated))
        }
      )
    ))

  const requireIssuingSession = <E, R>(
    handler: Effect.Effect<Response, E, R>
  ): Effect.Effect<Response, never, Request | Exclude<R, CurrentSession>> =>
    RouteAccess.declare(respond(
      Effect.flatMap(
        authenticateIssuing,
        (authenticated) =>
          Effect.flatMap(Effect.provideService(handler, CurrentSession, authenticated), nonceFor(authenticated))
      )
    ))

  const decoding = <B = undefined, P = Params>(
    input: InputOptions<B, P>
  ): { readonly requireAccess: AccessGuard<ResourceAccess.AccessInput<B, P>> } => ({
    requireAccess: (options) => (handler) =>
      RouteAccess.declare(respond(Effect.gen(function*() {
        const authenticated = yield* authenticate
        const raw = yield* HttpRouter.params
        const params = (input.params === undefined
          ? raw
          : yield* Schema.decodeUnknownEffect(input.params as Decoder)(raw).pipe(
            Effect.mapError(() => AuthError.notFound())
          )) as P
        const body = (input.body === undefined ? undefined : yield* JsonBody.read(input.body as Decoder, {
          maxBytes: settings.maxBodyBytes,
          maxDepth: settings.maxJsonDepth,
          expected: input.expected ?? "a JSON object"
        })) as B
        const decoded = { body, params }
        const missing = decide(authenticated.session.scopes, options, decoded)
        if (missing !== undefined) return yield* AuthError.insufficientScope(missing)
        return yield* Effect.flatMap(
          Effect.provideService(handler(decoded), CurrentSession, authenticated),
          nonceFor(authenticated)
        )
      })))
  })

  const setSessionCookie = (
    request: Request,
    response: Response,
    token: Redacted.Redacted<string>,
    expiresAt: number
  ) =>
    Effect.clockWith((clock) => {
      const cookie = sessionCookie(request)
      const maxAgeSeconds = Math.max(0, Math.floor((expiresAt - clock.currentTimeMillisUnsafe()) / 1000))
      return HttpServerResponse.setCookie(response, cookie.name, Redacted.value(token), {
        ...cookieOptions(cookie),
        maxAge: `${maxAgeSeconds} seconds`
      }).pipe(Effect.orDie)
    })

  const clearSessionCookie = (request: Request, response: Response) => {
    const cookie = sessionCookie(request)
    return HttpServerResponse.expireCookie(response, cookie.name, cookieOptions(cookie)).pipe(Effect.orDie)
  }

  return HttpAuth.of({
    authenticate,
    authenticateIssuing,
    requireIssuingSession,
    tokenlessProof,
    resourceProof,
    consumeProof,
    dpopAlgorithms: algorithms,
    withDpopNonce,
    requireSession: requireScopes([]),
    requireScopes,
    requireAccess: decoding({}).requireAccess,
    decoding,
    respond,
    public: (handler) => RouteAccess.declare(respond(handler)),
    checkOrigin,
    pairingAttempt,
    guestAttempt,
    failCredential,
    countFailures,
    sessionCookie,
    setSessionCookie,
    clearSessionCookie
  })
})

/** Needs `ServerAuth`, `ServerAuthPolicy`, `HttpAuthSettings` and a `RateLimiter`. */
export const layer = Layer.effect(HttpAuth, make)
