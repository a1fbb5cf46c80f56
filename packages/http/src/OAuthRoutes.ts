/**
 * The OAuth 2.1 authorization server of the MCP endpoint on the wire (core's
 * `OAuthAuthorizationServer` does the work):
 *
 * - `GET /.well-known/oauth-authorization-server` (RFC 8414), every URL derived from the origin the
 *   client used (see `OAuthMetadata`); off loopback only over HTTPS or at the public origin;
 * - `POST /oauth/register` (RFC 7591, JSON): a stateless signed `client_id`;
 * - `GET /oauth/authorize`: the request checked, then the consent page (an error before the client
 *   and redirect URI are known is a page, never a redirect; later ones redirect with `iss`);
 * - `POST /oauth/authorize` (the consent form): `approve` needs the browser's session cookie with
 *   `write:access`, an `Origin` that is this server's own and the form's single-use CSRF token;
 *   `deny` redirects with `error=access_denied`; `pair` exchanges a pairing code typed on the page
 *   for a session (under the pairing budget, like every code) and shows the page again;
 * - `POST /oauth/token` and `POST /oauth/revoke` (form-encoded, RFC 6749 errors
 *   `{error, error_description}`), under the client address's `token` budget.
 *
 * Every response is `no-store`; the pages send `frame-ancestors 'none'`. The pages themselves are
 * the application's (`OAuthPages`): the reference server renders its own.
 */
import {
  type Errors,
  OAuthAuthorizationServer,
  OAuthClients,
  ServerAuth,
  SessionCredentialService
} from "@gatehouse-auth/core"
import { ByteSize, Effect, Option, Redacted, Schema } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Crypto from "node:crypto"
import * as AuthError from "./AuthError.ts"
import { HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as OAuthMetadata from "./OAuthMetadata.ts"
import { RateLimiter } from "./RateLimiter.ts"
import * as RequestInfo from "./RequestInfo.ts"

type Request = HttpServerRequest.HttpServerRequest
type Response = HttpServerResponse.HttpServerResponse

/** What the consent page is given. */
export interface ConsentView {
  readonly request: OAuthAuthorizationServer.AuthorizationRequest
  /** With a session in the browser; `undefined` asks for a pairing code first. */
  readonly consent: OAuthAuthorizationServer.ConsentData | undefined
  /** The authorization request's parameters, to post back as hidden fields. */
  readonly fields: ReadonlyArray<readonly [string, string]>
  /** What went wrong with the last attempt on the page (a wrong pairing code), if anything. */
  readonly problem?: string | undefined
  /** The nonce of the page's `style-src`. */
  readonly nonce: string
}

export interface ErrorView {
  readonly error: string
  readonly description: string
  readonly nonce: string
}

/** The HTML pages of the authorization endpoint (escape everything: the client's claims are hostile). */
export interface OAuthPages {
  readonly consent: (view: ConsentView) => string
  readonly error: (view: ErrorView) => string
}

export interface Options {
  readonly pages: OAuthPages
  /** The path of the MCP endpoint (the resource); default `/mcp`. */
  readonly mcpPath?: `/${string}` | undefined
}

const noStore = { "cache-control": "no-store", pragma: "no-cache" }
const formType = /^application\/x-www-form-urlencoded\s*(?:;.*)?$/i
const jsonType = /^application\/json\s*(?:;.*)?$/i
const maxFormBytes = 16 * 1024

/** The fields of the consent form that are not the authorization request's. */
const formOnly = new Set(["action", "csrf_token", "pairing_code"])

/** An RFC 6749 §5.2 error response. */
export const oauthError = (status: number, error: string, description: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.jsonUnsafe({ error, error_description: description }, {
    status,
    headers: { ...noStore, ...headers }
  })

const statusOf = (error: string) => error === "invalid_client" ? 401 : 400

/** What a `form-action` must allow for the redirect after the form posts (CSP follows redirects). */
const formActionSource = (redirectUri: string): string => {
  try {
    const url = new URL(redirectUri)
    if (url.protocol === "https:") return url.origin
    if (url.protocol === "http:") return `http://${url.hostname}:*`
    return url.protocol
  } catch {
    return ""
  }
}

const pageHeaders = (nonce: string, redirectUri?: string) => ({
  ...noStore,
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": [
    "default-src 'none'",
    `style-src 'nonce-${nonce}'`,
    `form-action 'self'${redirectUri === undefined ? "" : ` ${formActionSource(redirectUri)}`}`,
    "base-uri 'none'",
    "frame-ancestors 'none'"
  ].join("; "),
  "x-frame-options": "DENY",
  // Not `no-referrer`: under it a browser sends `Origin: null` with the form, which the Origin
  // check must refuse. `same-origin` keeps the page's URL from every other site.
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff"
})

const redirect = (location: string, status = 302) =>
  HttpServerResponse.empty({ status, headers: { ...noStore, location } })

/** A form body: `application/x-www-form-urlencoded` only, at most 16 KiB. */
const readForm = (request: Request): Effect.Effect<URLSearchParams | Response> => {
  if (!formType.test(request.headers["content-type"] ?? "")) {
    return Effect.succeed(
      oauthError(415, "invalid_request", "The body must be application/x-www-form-urlencoded")
    )
  }
  if (Number(request.headers["content-length"] ?? "0") > maxFormBytes) {
    return Effect.succeed(oauthError(413, "invalid_request", "The request body is too large"))
  }
  return request.text.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxFormBytes)),
    Effect.map((text): URLSearchParams | Response => new URLSearchParams(text)),
    Effect.orElseSucceed(() => oauthError(400, "invalid_request", "The request body could not be read"))
  )
}

const decodeRegistration = Schema.decodeUnknownOption(OAuthClients.RegistrationRequest)

export const layer = (options: Options) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const server = yield* OAuthAuthorizationServer.OAuthAuthorizationServer
    const clients = yield* OAuthClients.OAuthClients
    const sessions = yield* SessionCredentialService.SessionCredentialService
    const serverAuth = yield* ServerAuth.ServerAuth
    const auth = yield* HttpAuth
    const settings = yield* HttpAuthSettings
    const limiter = yield* RateLimiter
    const mcpPath = options.mcpPath ?? "/mcp"
    const pages = options.pages

    const endpoints = (request: Request) => OAuthMetadata.endpointsFor(request, settings, mcpPath)
    const notHere = () =>
      oauthError(400, "invalid_request", "The authorization server runs only over HTTPS off loopback")

    const errorPage = (status: number, error: string, description: string) => {
      const nonce = Crypto.randomBytes(16).toString("base64")
      return HttpServerResponse.text(pages.error({ error, description, nonce }), {
        status,
        headers: pageHeaders(nonce)
      })
    }

    const consentPage = (
      request: OAuthAuthorizationServer.AuthorizationRequest,
      params: URLSearchParams,
      consent: OAuthAuthorizationServer.ConsentData | undefined,
      problem?: string,
      status = 200
    ) => {
      const nonce = Crypto.randomBytes(16).toString("base64")
      const fields = [...params.entries()].filter(([name]) => !formOnly.has(name))
      return HttpServerResponse.text(pages.consent({ request, consent, fields, problem, nonce }), {
        status,
        headers: pageHeaders(nonce, request.redirectUri)
      })
    }

    /** The live session of the browser's cookie (never a bearer token: consent is a person's). */
    const browserSession = (request: Request) => {
      const cookie = RequestInfo.cookieValue(request, auth.sessionCookie(request).name)
      if (cookie._tag !== "Token") return Effect.succeed(undefined)
      return sessions.verify(cookie.token).pipe(
        Effect.map((session): SessionCredentialService.SessionInfo | undefined =>
          session.method === "oauth" ? undefined : session
        ),
        Effect.catchTags({
          InvalidSessionToken: () => Effect.succeed(undefined),
          ExpiredSessionToken: () => Effect.succeed(undefined)
        })
      )
    }

    /** Runs `effect` under the address's `token` budget: 429 when spent, refunded on success. */
    const budgeted = <E, R>(request: Request, effect: Effect.Effect<Response, E, R>) =>
      Effect.gen(function*() {
        const address = RequestInfo.clientAddress(request)
        const wait = yield* limiter.reserve("token", address)
        if (wait > 0) {
          return oauthError(429, "invalid_request", "Too many requests; try again later", {
            "retry-after": String(wait)
          })
        }
        const response = yield* effect
        if (response.status < 400) yield* limiter.refund("token", address)
        return response
      })

    // --- Discovery ---------------------------------------------------------------------------

    yield* router.add(
      "GET",
      OAuthMetadata.authorizationServerPath,
      auth.public(Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
        const found = endpoints(request)
        if (found === undefined) return notHere()
        return HttpServerResponse.jsonUnsafe(
          OAuthMetadata.authorizationServerMetadata(
            found.issuer,
            server.scopesSupported,
            clients.metadataDocuments,
            auth.dpopAlgorithms
          ),
          { headers: { "cache-control": "max-age=300", vary: "Host" } }
        )
      }))
    )

    // --- Registration (RFC 7591) -------------------------------------------------------------

    yield* router.add(
      "POST",
      OAuthMetadata.registerPath,
      auth.public(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (endpoints(request) === undefined) return notHere()
        return yield* budgeted(
          request,
          Effect.gen(function*() {
            if (!jsonType.test(request.headers["content-type"] ?? "")) {
              return oauthError(415, "invalid_client_metadata", "The body must be application/json")
            }
            if (Number(request.headers["content-length"] ?? "0") > maxFormBytes) {
              return oauthError(413, "invalid_client_metadata", "The request body is too large")
            }
            const text = yield* request.text.pipe(
              Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxFormBytes)),
              Effect.orElseSucceed(() => undefined)
            )
            let json: unknown = undefined
            try {
              json = text === undefined ? undefined : JSON.parse(text)
            } catch {
              json = undefined
            }
            const decoded = decodeRegistration(json)
            if (Option.isNone(decoded)) {
              return oauthError(400, "invalid_client_metadata", "The body is not a client registration (RFC 7591)")
            }
            return yield* clients.register(decoded.value).pipe(
              Effect.map((registered) => HttpServerResponse.jsonUnsafe(registered, { status: 201, headers: noStore })),
              Effect.catchTag(
                "InvalidClientMetadata",
                (error) => Effect.succeed(oauthError(400, error.error, error.message))
              )
            )
          })
        )
      }))
    )

    // --- Authorization -----------------------------------------------------------------------

    yield* router.add(
      "GET",
      OAuthMetadata.authorizePath,
      auth.public(
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const found = endpoints(request)
          if (found === undefined) return errorPage(400, "invalid_request", "OAuth runs only over HTTPS off loopback")
          // Under the address's `token` budget, refunded when the request is valid: a bad request
          // can make the server fetch a client's metadata document, so a flood of them is limited.
          const address = RequestInfo.clientAddress(request)
          const wait = yield* limiter.reserve("token", address)
          if (wait > 0) {
            return HttpServerResponse.setHeader(
              errorPage(429, "temporarily_unavailable", "Too many authorization requests; try again later"),
              "retry-after",
              String(wait)
            )
          }
          const params = new URL(request.url, "http://localhost").searchParams
          const outcome = yield* server.authorize(params, found)
          if (outcome._tag === "Valid") yield* limiter.refund("token", address)
          if (outcome._tag === "ErrorPage") return errorPage(400, outcome.error, outcome.description)
          if (outcome._tag === "Redirect") return redirect(outcome.location)
          const session = yield* browserSession(request)
          const consent = session === undefined ? undefined : yield* server.consent(outcome.request, session)
          return consentPage(outcome.request, params, consent)
        }).pipe(
          Effect.catchTag("StoreError", () => Effect.succeed(errorPage(503, "temporarily_unavailable", "Try again")))
        )
      )
    )

    yield* router.add(
      "POST",
      OAuthMetadata.authorizePath,
      auth.public(
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const found = endpoints(request)
          if (found === undefined) return errorPage(400, "invalid_request", "OAuth runs only over HTTPS off loopback")
          // A form posted from another site's page is refused: it must come from this page.
          const origin = request.headers["origin"]
          if (origin === undefined || !RequestInfo.isOriginAllowed(request, [], settings.publicOrigin)) {
            return errorPage(403, "access_denied", "The approval must be sent from this server's own page")
          }
          const form = yield* readForm(request)
          if (!(form instanceof URLSearchParams)) return form
          const params = new URLSearchParams([...form.entries()].filter(([name]) => !formOnly.has(name)))
          const outcome = yield* server.authorize(params, found)
          if (outcome._tag === "ErrorPage") return errorPage(400, outcome.error, outcome.description)
          if (outcome._tag === "Redirect") return redirect(outcome.location, 303)
          const action = form.getAll("action")
          const csrf = form.get("csrf_token") ?? ""
          const session = yield* browserSession(request)
          if (action.length === 1 && action[0] === "pair") {
            const code = (form.get("pairing_code") ?? "").slice(0, 64)
            const paired = yield* auth.pairingAttempt(
              serverAuth.exchangeBootstrapCredential(Redacted.make(code, { label: "bootstrap-credential" }), {
                client: RequestInfo.describeClient(request)
              })
            ).pipe(
              Effect.map(Option.some),
              Effect.catch((error) =>
                Effect.succeed(Option.none<never>()).pipe(
                  Effect.tap(() => Effect.logDebug("OAuth consent pairing refused", error.code))
                )
              )
            )
            if (Option.isNone(paired)) {
              return consentPage(outcome.request, params, undefined, "That pairing code is not valid", 400)
            }
            const location = `${OAuthMetadata.authorizePath}?${params.toString()}`
            return yield* auth.setSessionCookie(
              request,
              redirect(location, 303),
              paired.value.token,
              paired.value.session.absoluteExpiresAt
            )
          }
          if (action.length === 1 && action[0] === "deny") {
            return yield* server.deny(outcome.request, session, csrf).pipe(
              Effect.map((location) => redirect(location, 303)),
              Effect.catchTag("OAuthError", (error) => Effect.succeed(errorPage(403, error.error, error.description)))
            )
          }
          if (action.length !== 1 || action[0] !== "approve") {
            return errorPage(400, "invalid_request", "The form names no action")
          }
          if (session === undefined) {
            return errorPage(401, "access_denied", "Approving needs this browser to be signed in (paired)")
          }
          return yield* server.approve(outcome.request, session, csrf).pipe(
            Effect.map((location) => redirect(location, 303)),
            Effect.catchTag("OAuthError", (error) => Effect.succeed(errorPage(403, error.error, error.description)))
          )
        }).pipe(
          Effect.catchTag("StoreError", () => Effect.succeed(errorPage(503, "temporarily_unavailable", "Try again")))
        )
      )
    )

    // --- Tokens and revocation ---------------------------------------------------------------

    const formEndpoint = (
      handle: (params: URLSearchParams, found: OAuthMetadata.Endpoints) => Effect.Effect<Response, never, Request>
    ) =>
      auth.public(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const found = endpoints(request)
        if (found === undefined) return notHere()
        return yield* budgeted(
          request,
          Effect.gen(function*() {
            const form = yield* readForm(request)
            if (!(form instanceof URLSearchParams)) return form
            return yield* handle(form, found)
          })
        )
      }))

    /** The protocol's errors as RFC 6749 answers; a store failure as `503` (the client retries). */
    const failures = <A>(effect: Effect.Effect<A, OAuthAuthorizationServer.OAuthError | Errors.StoreError>) =>
      effect.pipe(
        Effect.map((value): A | Response => value),
        Effect.catchTags({
          OAuthError: (error) => Effect.succeed(oauthError(statusOf(error.error), error.error, error.description)),
          StoreError: () =>
            Effect.succeed(
              oauthError(503, "temporarily_unavailable", "The server cannot answer now; try again", {
                "retry-after": "1"
              })
            )
        })
      )

    yield* router.add(
      "POST",
      OAuthMetadata.tokenPath,
      formEndpoint((params, found) =>
        // A DPoP proof (no `ath`: no token is presented here) binds what is issued to its key.
        // It is used up before the grant is looked at: under the token budget, and a replayed
        // proof never reaches a code or a refresh token.
        Effect.gen(function*() {
          const proof = yield* auth.tokenlessProof
          if (Option.isSome(proof)) yield* auth.consumeProof(proof.value)
          const result = yield* failures(
            server.token(params, found, Option.getOrUndefined(Option.map(proof, ({ jkt }) => ({ jkt }))))
          )
          if (HttpServerResponse.isHttpServerResponse(result)) return result
          const response = HttpServerResponse.jsonUnsafe(result, { headers: noStore })
          return Option.isSome(proof) ? yield* auth.withDpopNonce(response) : response
        }).pipe(
          Effect.catch((error) =>
            Effect.succeed(
              error.oauth === true
                ? AuthError.toResponse(error)
                : error.status === 503
                ? oauthError(503, "temporarily_unavailable", "The server cannot answer now; try again", {
                  "retry-after": "1"
                })
                : oauthError(error.status === 429 ? 429 : 400, "invalid_request", error.message, error.headers)
            )
          )
        )
      )
    )

    yield* router.add(
      "POST",
      OAuthMetadata.revokePath,
      formEndpoint((params, found) =>
        Effect.map(
          failures(server.revoke(params, found)),
          (result) =>
            HttpServerResponse.isHttpServerResponse(result)
              ? result
              : HttpServerResponse.empty({ status: 200, headers: noStore })
        )
      )
    )
  }))
