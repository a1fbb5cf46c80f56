/**
 * The contract's error responses, and the one place core errors become them.
 *
 * - `HttpAuthError` and its constructors (`invalidCredential`, `rateLimited`, ...): the response
 *   `{ "error": { "code", "message" } }` with the headers the contract asks for
 *   (`WWW-Authenticate` on 401 and on a missing scope, `Retry-After` on 429 and 503).
 * - `fromCoreError` maps every typed error of `@gatehouse-auth/core` (the `CoreError` union) onto one of
 *   them. The switch is exhaustive: a core error added or renamed without a case here fails to
 *   compile instead of becoming a silent 500.
 * - `isCoreError` recognises those errors among unknown failures (what `HttpAuth.respond` catches);
 *   anything else is a 500 that names nothing.
 */
import type {
  AccessTokens,
  Admission,
  BootstrapCredentialService,
  Errors,
  GuestSessionService,
  McpSessionRegistry,
  ServerAuth,
  SessionCredentialService
} from "@gatehouse-auth/core"
import { Predicate, Schema } from "effect"
import { HttpServerResponse } from "effect/http"

export const Code = Schema.Literals([
  "invalid_request",
  "not_found",
  "method_not_allowed",
  "payload_too_large",
  "unsupported_media_type",
  "missing_credential",
  "invalid_credential",
  "expired_credential",
  "forbidden",
  "insufficient_scope",
  "origin_not_allowed",
  "insecure_transport",
  "too_many_pairing_links",
  "guest_revoked",
  "rate_limited",
  "internal_error",
  "service_unavailable",
  "use_dpop_nonce",
  "invalid_dpop_proof"
])
export type Code = typeof Code.Type

export class HttpAuthError extends Schema.TaggedError<HttpAuthError>()("HttpAuthError", {
  status: Schema.Number,
  code: Code,
  message: Schema.String,
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`). */
  headers: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  /**
   * Answer in the RFC 6749 section 5.2 shape, `{ "error": code, "error_description": message }`:
   * what a DPoP failure at an endpoint that issues tokens answers (RFC 9449 section 8).
   */
  oauth: Schema.optional(Schema.Boolean)
}) {}

const make = (status: number, code: Code, message: string, headers?: Record<string, string>) =>
  new HttpAuthError(headers === undefined ? { status, code, message } : { status, code, message, headers })

const utf8 = new TextEncoder()

/**
 * `value` as an RFC 9110 §5.6.4 quoted-string. A quote or a backslash is escaped (a quoted-pair),
 * so it cannot close the parameter and start another (`", error_uri="...`). Anything outside
 * printable ASCII (CR/LF, other controls, non-ASCII) is percent-encoded as UTF-8: a header cannot
 * carry CR/LF (Node refuses the whole response, an empty 500) and nothing else needs to be there.
 */
export const quotedString = (value: string): string => {
  let quoted = ""
  for (const char of value) {
    if (char === "\"" || char === "\\") quoted += `\\${char}`
    else if (char >= " " && char <= "~") quoted += char
    else for (const byte of utf8.encode(char)) quoted += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return `"${quoted}"`
}

/** A `Bearer` challenge with these auth-params, every value escaped by `quotedString`. */
export const bearerChallengeHeader = (params: Record<string, string>): string => {
  const rendered = Object.entries(params).map(([key, value]) => `${key}=${quotedString(value)}`)
  return rendered.length === 0 ? "Bearer" : `Bearer ${rendered.join(", ")}`
}

/** `Bearer`, or `Bearer error="invalid_token"` once a token was presented (RFC 6750 §3). */
const bearerChallenge = (presented: boolean, extra: Record<string, string> = {}) =>
  bearerChallengeHeader({ ...(presented ? { error: "invalid_token" } : {}), ...extra })

export const invalidRequest = (message: string) => make(400, "invalid_request", message)
export const notFound = (message = "Not found") => make(404, "not_found", message)
export const payloadTooLarge = () => make(413, "payload_too_large", "The request body is too large")
export const unsupportedMediaType = () =>
  make(415, "unsupported_media_type", "This endpoint accepts only application/json")

export const missingCredential = (challenge: Record<string, string> = {}) =>
  make(401, "missing_credential", "Authentication is required", {
    "www-authenticate": bearerChallenge(false, challenge)
  })
export const invalidCredential = (message = "The credential is not valid", challenge: Record<string, string> = {}) =>
  make(401, "invalid_credential", message, { "www-authenticate": bearerChallenge(true, challenge) })
export const expiredCredential = (message = "The credential has expired", challenge: Record<string, string> = {}) =>
  make(401, "expired_credential", message, { "www-authenticate": bearerChallenge(true, challenge) })

export const forbidden = (message: string) => make(403, "forbidden", message)
export const insufficientScope = (scopes: ReadonlyArray<string>) =>
  make(403, "insufficient_scope", `This needs the scope ${scopes.join(" ")}`, {
    "www-authenticate": bearerChallengeHeader({ error: "insufficient_scope", scope: scopes.join(" ") })
  })
export const originNotAllowed = () => make(403, "origin_not_allowed", "This origin is not allowed")
/**
 * The cookie bootstrap was asked over plain HTTP for a non-loopback name while the session cookie
 * is `Secure`: the browser would drop the cookie, so nothing is exchanged (the code stays usable).
 */
export const insecureTransport = (host: string, advice: string) =>
  make(
    400,
    "insecure_transport",
    `This browser would drop the session cookie: it is Secure and this page came over plain HTTP to ${host}. ` +
      `The pairing code was not used. ${advice}`
  )
export const hostNotAllowed = () => make(403, "forbidden", "This host name is not allowed")
/**
 * Under `unsafe-no-auth` nobody is authenticated, so nothing that outlives the mode (a pairing
 * link, an MCP credential) may be minted: it would still work once authentication is back on.
 */
export const notWhileAuthenticationIsOff = (what: string) =>
  make(403, "forbidden", `${what} cannot be made while authentication is off (policy unsafe-no-auth)`)
/** The cap on open pairing links is reached: revoke one (or let one expire or be used) first. */
export const tooManyPairingLinks = (max: number) =>
  make(
    409,
    "too_many_pairing_links",
    `There are already ${max} open pairing links, the most this server keeps; revoke one or wait for one to expire`
  )
export const guestRevoked = () => make(403, "guest_revoked", "This guest session has been revoked")
export const rateLimited = (retryAfterSeconds: number, message = "Too many attempts; try again later") =>
  make(429, "rate_limited", message, {
    "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds)))
  })
/** Two cookies of the session's name came: neither is used, and the response clears both. */
export const ambiguousCookie = () =>
  invalidCredential(
    "Two session cookies were sent: another page on this machine set one. Both are cleared; pair this browser again"
  )
export const internalError = () => make(500, "internal_error", "Something went wrong")
export const serviceUnavailable = () =>
  make(503, "service_unavailable", "The server cannot reach its storage; try again shortly", { "retry-after": "5" })
/** Load shed: a full `Admission` gate (the database's or the pairing one) refused the work at once. */
export const overloaded = (retryAfterSeconds: number) =>
  make(503, "service_unavailable", "The server is busy; try again shortly", {
    "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds)))
  })

/** The response for an error. Errors are never cached; credential responses never either. */
export const toResponse = (error: HttpAuthError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    error.oauth === true
      ? { error: error.code, error_description: error.message }
      : { error: { code: error.code, message: error.message } },
    { status: error.status, headers: { "cache-control": "no-store", ...error.headers } }
  )

/**
 * Where a DPoP failure happened: at a `resource` (any authenticated route: a 401 challenge, RFC
 * 9449 section 9) or at an endpoint that `issues` tokens (a 400 in the RFC 6749 shape, section 8).
 */
export type DpopSite = "resource" | "issues"

/** A `DPoP` challenge: its auth-params, then `algs` (the algorithms proofs may use). */
export const dpopChallengeHeader = (algorithms: ReadonlyArray<string>, params: Record<string, string> = {}): string =>
  `DPoP ${
    Object.entries({ ...params, algs: algorithms.join(" ") }).map(([key, value]) => `${key}=${quotedString(value)}`)
      .join(", ")
  }`

/**
 * `error` with a `DPoP` challenge beside its `Bearer` one, when it is a 401: a client learns that
 * this server takes DPoP-bound credentials, and which algorithms. `dpopError` goes into the DPoP
 * challenge (a credential presented as `DPoP` and refused); the Bearer challenge then names none.
 */
export const withDpopChallenge = (
  error: HttpAuthError,
  algorithms: ReadonlyArray<string>,
  dpopError?: string
): HttpAuthError => {
  if (error.status !== 401) return error
  const bearer = dpopError === undefined ? (error.headers?.["www-authenticate"] ?? "Bearer") : "Bearer"
  const dpop = dpopChallengeHeader(algorithms, dpopError === undefined ? {} : { error: dpopError })
  return new HttpAuthError({
    status: error.status,
    code: error.code,
    message: error.message,
    headers: { ...error.headers, "www-authenticate": `${bearer}, ${dpop}` },
    ...(error.oauth === undefined ? {} : { oauth: error.oauth })
  })
}

/** The proof lacks the server's current nonce: retry with the one in `DPoP-Nonce`. */
export const useDpopNonce = (site: DpopSite, nonce: string, algorithms: ReadonlyArray<string>) =>
  site === "issues"
    ? new HttpAuthError({
      status: 400,
      code: "use_dpop_nonce",
      message: "The DPoP proof must carry the nonce in the DPoP-Nonce header of this response",
      headers: { "dpop-nonce": nonce },
      oauth: true
    })
    : withDpopChallenge(
      make(401, "use_dpop_nonce", "The DPoP proof must carry the nonce in the DPoP-Nonce header of this response", {
        "dpop-nonce": nonce
      }),
      algorithms,
      "use_dpop_nonce"
    )

/** The DPoP proof is missing or not valid (which check failed is for logs only). */
/** `requireDpop`: an endpoint that issues tokens refuses a request without a proof (RFC 6749 shape). */
export const dpopProofRequired = () =>
  new HttpAuthError({
    status: 400,
    code: "invalid_dpop_proof",
    message: "This server issues only DPoP-bound credentials: send a DPoP proof",
    oauth: true
  })

export const invalidDpopProof = (site: DpopSite, algorithms: ReadonlyArray<string>) =>
  site === "issues"
    ? new HttpAuthError({
      status: 400,
      code: "invalid_dpop_proof",
      message: "The DPoP proof is not valid",
      oauth: true
    })
    : withDpopChallenge(
      make(401, "invalid_dpop_proof", "The DPoP proof is not valid"),
      algorithms,
      "invalid_dpop_proof"
    )

/**
 * A bound credential presented as `Bearer`, a bound one with a proof by another key, or an
 * unbound one presented as `DPoP`: `401` with `error="invalid_token"` in the DPoP challenge.
 */
export const invalidDpopToken = (message: string, algorithms: ReadonlyArray<string>) =>
  withDpopChallenge(make(401, "invalid_credential", message), algorithms, "invalid_token")

/**
 * Every typed error of `@gatehouse-auth/core` that reaches an HTTP handler. (The keyring's and the
 * secret store's errors are start-up and CLI failures: no request can meet them.)
 */
export type CoreError =
  | Errors.StoreError
  | Errors.InvalidRequest
  | ServerAuth.MissingCredential
  | SessionCredentialService.InvalidSessionToken
  | SessionCredentialService.ExpiredSessionToken
  | BootstrapCredentialService.UnknownCredential
  | BootstrapCredentialService.ExpiredCredential
  | BootstrapCredentialService.RevokedCredential
  | BootstrapCredentialService.ProofKeyMismatch
  | McpSessionRegistry.TooManyMcpCredentials
  | Admission.Overloaded
  | GuestSessionService.GuestRevoked
  | GuestSessionService.InvalidGuestToken
  | GuestSessionService.ExpiredGuestToken
  | AccessTokens.InvalidAccessToken
  | AccessTokens.ExpiredAccessToken
  | AccessTokens.ScopesNotHeld

/** What `fromCoreError` accepts: a core error, or one already in the contract's shape. */
export type Mappable = CoreError | HttpAuthError

/** The tags of `Mappable`, checked both ways: a missing or unknown tag fails to compile. */
const mappableTags = {
  HttpAuthError: true,
  StoreError: true,
  InvalidRequest: true,
  MissingCredential: true,
  InvalidSessionToken: true,
  ExpiredSessionToken: true,
  UnknownCredential: true,
  ExpiredCredential: true,
  RevokedCredential: true,
  ProofKeyMismatch: true,
  TooManyMcpCredentials: true,
  Overloaded: true,
  GuestRevoked: true,
  InvalidGuestToken: true,
  ExpiredGuestToken: true,
  InvalidAccessToken: true,
  ExpiredAccessToken: true,
  ScopesNotHeld: true
} as const satisfies Record<Mappable["_tag"], true>

/**
 * Whether an unknown failure is one `fromCoreError` maps. By tag, as the errors' `_tag`s are their
 * identity (two copies of the core would fail an `instanceof`), and with a message, which every
 * mapping may show.
 */
export const isMappable = (value: unknown): value is Mappable =>
  Predicate.hasProperty(value, "_tag") && Predicate.isString(value._tag) && Object.hasOwn(mappableTags, value._tag) &&
  Predicate.hasProperty(value, "message") && Predicate.isString(value.message)

/**
 * Takes `never`: a tag without a case in `fromCoreError` stops the build there. Reached anyway (a
 * cast, plain JavaScript), it answers a 500 that names nothing.
 */
const unmapped = (_: never): HttpAuthError => internalError()

/** Maps the core's typed errors onto the contract. */
export const fromCoreError = (error: Mappable): HttpAuthError => {
  switch (error._tag) {
    case "HttpAuthError":
      return error
    case "MissingCredential":
      return missingCredential()
    case "InvalidSessionToken":
      return invalidCredential("The session is not valid")
    case "ExpiredSessionToken":
      return expiredCredential("The session has expired")
    case "UnknownCredential":
    case "RevokedCredential":
    case "ProofKeyMismatch":
      return invalidCredential(error.message)
    case "ExpiredCredential":
      return expiredCredential(error.message)
    case "InvalidRequest":
      return invalidRequest(error.message)
    case "StoreError":
      // The database's gate was full: the store is fine, only busy, so ask for a quick retry.
      return Predicate.isTagged(error.cause, "Overloaded")
        ? overloaded((error.cause as Admission.Overloaded).retryAfterSeconds)
        : serviceUnavailable()
    case "Overloaded":
      return overloaded(error.retryAfterSeconds)
    case "GuestRevoked":
      return guestRevoked()
    case "InvalidGuestToken":
      return invalidCredential(error.message)
    case "ExpiredGuestToken":
      return expiredCredential(error.message)
    case "InvalidAccessToken":
      return invalidCredential(error.message)
    case "ExpiredAccessToken":
      return expiredCredential(error.message)
    case "ScopesNotHeld":
      return insufficientScope(error.scopes)
    case "TooManyMcpCredentials":
      return make(503, "service_unavailable", error.message, { "retry-after": "60" })
    default:
      return unmapped(error)
  }
}
