/**
 * The OAuth 2.1 authorization server of the MCP endpoint (MCP authorization, RFC 6749/7636/8707/
 * 9207/7009), without HTTP: `@gatehouse-auth/http`'s `OAuthRoutes` puts it on the wire.
 *
 * - `authorize(params, context)` checks an authorization request in a fixed order: the client, the
 *   redirect URI (until both are known an error is shown on a page, never redirected), then
 *   `response_type`, PKCE (`S256` only, a 43-character challenge), `resource` (RFC 8707: this MCP
 *   endpoint) and the scopes (errors redirected, with `iss`).
 * - `consent(request, session)` is what the consent page shows, with a CSRF token bound to the
 *   session, the client, the redirect URI and the PKCE challenge, usable once.
 * - `approve` needs a live session holding `write:access` and grants only scopes it holds: the grant
 *   is a session of method `oauth` (so it shows in the session list, `sessions revoke` ends it, and
 *   it has its own lifetimes) linked to the approving session, which revoking ends it too. The code
 *   lives 60 seconds, is stored hashed and is consumed exactly once; a replay revokes the grant.
 * - `exchangeCode` and `refresh` return an access token of `AccessTokens` (`aud` = the resource,
 *   `client_id`, 1 hour) and a refresh token. A refresh token rotates on every use; the one just
 *   rotated is accepted again for `refreshGrace` (30 seconds) and yields the same successor; after
 *   that a reuse revokes the whole grant.
 * - DPoP (RFC 9449 section 5): a code exchanged with a proof's key (verified by the HTTP layer)
 *   binds the grant, recorded as its session's `jkt`: every access token then carries `cnf.jkt`
 *   (`token_type: "DPoP"`), and a refresh without a proof by that key is `invalid_grant`, checked
 *   before the refresh token rotates. An unbound grant refreshed with a proof gets a bound access
 *   token (its refresh tokens stay unbound).
 * - `verifyAccessToken(token, resource)` is what the MCP endpoint accepts: an OAuth access token for
 *   exactly that resource whose grant is live.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema, type Scope } from "effect"
import * as Crypto from "node:crypto"
import * as AccessTokens from "./AccessTokens.ts"
import * as ClientMetadata from "./ClientMetadata.ts"
import * as Durations from "./Durations.ts"
import type { StoreError } from "./Errors.ts"
import { constantTimeEqualString, randomId, sha256Base64Url } from "./Hashing.ts"
import type { SessionId } from "./Ids.ts"
import * as OAuthClients from "./OAuthClients.ts"
import * as OAuthRedirectUri from "./OAuthRedirectUri.ts"
import * as OAuthStore from "./OAuthStore.ts"
import * as Scopes from "./Scopes.ts"
import * as SessionCredentialService from "./SessionCredentialService.ts"
import * as SessionStore from "./SessionStore.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

/** An OAuth error as RFC 6749 names it, for the token endpoint's body or a redirect. */
export class OAuthError extends Schema.TaggedError<OAuthError>()("OAuthError", {
  error: Schema.String,
  description: Schema.String
}) {
  override get message(): string {
    return `${this.error}: ${this.description}`
  }
}

/** Where the request came in: the issuer and MCP resource derived from the Host the client used. */
export interface AuthorizationContext {
  readonly issuer: string
  readonly resource: string
}

export interface AuthorizationRequest {
  readonly client: OAuthClients.OAuthClient
  readonly redirectUri: string
  readonly state: string | undefined
  readonly codeChallenge: string
  readonly resource: string
  /** The scopes asked for; `undefined` when the request named none (the default set is granted). */
  readonly scopes: ReadonlyArray<string> | undefined
  readonly issuer: string
}

export type AuthorizeOutcome =
  /** The client or the redirect URI is not known: show the error, never redirect. */
  | { readonly _tag: "ErrorPage"; readonly error: string; readonly description: string }
  /** An error the client hears at its redirect URI (with `iss`). */
  | { readonly _tag: "Redirect"; readonly location: string }
  | { readonly _tag: "Valid"; readonly request: AuthorizationRequest }

/** What the consent page shows. Every text here is the client's own claim unless said otherwise. */
export interface ConsentData {
  /** The client's name: its own claim, never verified. */
  readonly clientName: string | undefined
  readonly clientId: string
  /** For a metadata-document client, the host of its `client_id` URL (the one verified fact). */
  readonly clientIdHost: string | undefined
  readonly redirectUri: string
  readonly redirectHost: string
  /** The redirect goes to this machine or a private address: the page warns. */
  readonly redirectIsLocal: boolean
  /** What approving grants (the requested scopes, or the default set the session holds). */
  readonly scopes: ReadonlyArray<string>
  /** Scopes asked for that the approving session does not hold (approval is refused). */
  readonly scopesNotHeld: ReadonlyArray<string>
  /** The session may approve (it holds `write:access`). */
  readonly canApprove: boolean
  /** For the approval form: bound to this session, client, redirect URI and challenge; once. */
  readonly csrfToken: string
}

export interface TokenResponse {
  readonly access_token: string
  /** `DPoP` when the access token carries `cnf.jkt` (the request came with a proof). */
  readonly token_type: "Bearer" | "DPoP"
  readonly expires_in: number
  readonly refresh_token: string
  readonly scope: string
}

export interface OAuthPrincipal {
  readonly sid: SessionId
  readonly subject: string
  readonly clientId: string
  readonly clientName: string
  readonly scopes: ReadonlyArray<string>
  /** `cnf.jkt` of the token: it counts only with a DPoP proof by that key. */
  readonly jkt?: string | undefined
}

export interface OAuthAuthorizationServerShape {
  /** The scopes a client may ask for (`scopes_supported`). */
  readonly scopesSupported: ReadonlyArray<string>
  readonly authorize: (
    params: URLSearchParams,
    context: AuthorizationContext
  ) => Effect.Effect<AuthorizeOutcome>
  readonly consent: (
    request: AuthorizationRequest,
    session: SessionCredentialService.SessionInfo
  ) => Effect.Effect<ConsentData>
  /** The approval: the redirect location (with `code`, `state`, `iss`) or an `OAuthError` to show. */
  readonly approve: (
    request: AuthorizationRequest,
    session: SessionCredentialService.SessionInfo,
    csrfToken: string
  ) => Effect.Effect<string, OAuthError | StoreError>
  /** The denial: the redirect location with `error=access_denied` (the CSRF token is checked too). */
  readonly deny: (
    request: AuthorizationRequest,
    session: SessionCredentialService.SessionInfo | undefined,
    csrfToken: string
  ) => Effect.Effect<string, OAuthError | StoreError>
  /**
   * `POST /oauth/token`, form parameters in. `proof`: the key of a DPoP proof that came with the
   * request (verified by the HTTP layer). A code exchanged with one binds the grant to that key:
   * every access token is then bound to it, and a refresh needs a proof by it.
   */
  readonly token: (
    params: URLSearchParams,
    context: AuthorizationContext,
    proof?: { readonly jkt: string } | undefined
  ) => Effect.Effect<TokenResponse, OAuthError | StoreError>
  /** `POST /oauth/revoke` (RFC 7009): an unknown token, or another client's, is a no-op. */
  readonly revoke: (
    params: URLSearchParams,
    context: AuthorizationContext
  ) => Effect.Effect<void, OAuthError | StoreError>
  readonly verifyAccessToken: (
    token: Redacted.Redacted<string>,
    resource: string
  ) => Effect.Effect<Option.Option<OAuthPrincipal>, StoreError>
}

export class OAuthAuthorizationServer extends Context.Service<
  OAuthAuthorizationServer,
  OAuthAuthorizationServerShape
>()("@gatehouse-auth/core/OAuthAuthorizationServer") {}

export interface Options {
  /** What a client may ask for (default: the application's standard scopes, given here). */
  readonly scopesSupported: ReadonlyArray<string>
  /** Default 60 seconds. */
  readonly codeTtl?: Duration.Input | undefined
  /** Default 1 hour. */
  readonly accessTokenTtl?: Duration.Input | undefined
  /** How long a rotated refresh token still yields its successor (default 30 seconds). */
  readonly refreshGrace?: Duration.Input | undefined
  /** How long a consent form stays usable (default 10 minutes). */
  readonly consentTtl?: Duration.Input | undefined
}

export const codePrefix = "gac_"
export const refreshPrefix = "grt_"
const csrfPrefix = "goc1"

/** RFC 7636: a verifier is 43 to 128 unreserved characters; an S256 challenge is 43 base64url. */
const verifierPattern = /^[A-Za-z0-9._~-]{43,128}$/
const challengePattern = /^[A-Za-z0-9_-]{43}$/

/** The S256 challenge of a verifier. */
export const challengeOf = (verifier: string): string => Crypto.hash("sha256", verifier, "base64url")

/** `location` with the parameters appended to its query (private-use schemes included). */
export const withParams = (location: string, params: Record<string, string | undefined>): string => {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, value)
  return `${location}${location.includes("?") ? "&" : "?"}${query.toString()}`
}

const single = (params: URLSearchParams, name: string): string | undefined | null => {
  const all = params.getAll(name)
  return all.length === 0 ? undefined : all.length === 1 ? all[0]! : null
}

const sealKey = (token: string) =>
  Crypto.createHash("sha256").update(`gatehouse/oauth-refresh-seal/v1.${token}`).digest()

/** `successor` encrypted (AES-256-GCM) under a key derived from `token`: only `token` opens it. */
export const seal = (token: string, successor: string): string => {
  const iv = Crypto.randomBytes(12)
  const cipher = Crypto.createCipheriv("aes-256-gcm", sealKey(token), iv)
  const body = Buffer.concat([cipher.update(successor, "utf8"), cipher.final()])
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url")
}

export const unseal = (token: string, sealed: string): string | undefined => {
  try {
    const bytes = Buffer.from(sealed, "base64url")
    const decipher = Crypto.createDecipheriv("aes-256-gcm", sealKey(token), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(bytes.length - 16))
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8")
  } catch {
    return undefined
  }
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const clients = yield* OAuthClients.OAuthClients
  const store = yield* OAuthStore.OAuthStore
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const sessionStore = yield* SessionStore.SessionStore
  const accessTokens = yield* AccessTokens.AccessTokens
  const keyring = yield* SigningKeyring.SigningKeyring
  const codeTtl = yield* Durations.toMillis("codeTtl", options.codeTtl, Duration.seconds(60))
  const accessTtl = yield* Durations.toMillis("accessTokenTtl", options.accessTokenTtl, Duration.hours(1))
  const grace = yield* Durations.toMillis("refreshGrace", options.refreshGrace, Duration.seconds(30))
  const consentTtl = yield* Durations.toMillis("consentTtl", options.consentTtl, Duration.minutes(10))
  const scopesSupported = Scopes.isScopes(options.scopesSupported) ? [...new Set(options.scopesSupported)] : []

  const fail = (error: string, description: string) => Effect.fail(new OAuthError({ error, description }))

  // --- Authorization requests ---------------------------------------------------------------

  const authorize = Effect.fn("OAuthAuthorizationServer.authorize")(function*(
    params: URLSearchParams,
    context: AuthorizationContext
  ) {
    const page = (error: string, description: string): AuthorizeOutcome => ({ _tag: "ErrorPage", error, description })
    const clientId = single(params, "client_id")
    if (clientId === undefined) return page("invalid_request", "The request names no client_id")
    if (clientId === null) return page("invalid_request", "client_id is given more than once")
    const client = yield* clients.resolve(clientId)
    if (Option.isNone(client)) {
      return page("invalid_client", "This client_id is not one this server issued or can verify")
    }
    const presentedRedirect = single(params, "redirect_uri")
    if (presentedRedirect === null) return page("invalid_request", "redirect_uri is given more than once")
    const registered = client.value.redirectUris
    const redirectUri = presentedRedirect === undefined
      ? (registered.length === 1 ? registered[0]! : undefined)
      : registered.some((uri) => OAuthRedirectUri.matches(uri, presentedRedirect))
      ? presentedRedirect
      : undefined
    if (redirectUri === undefined) {
      return page("invalid_request", "The redirect_uri is not one this client registered")
    }
    const state = single(params, "state")
    const redirect = (error: string, description: string): AuthorizeOutcome => ({
      _tag: "Redirect",
      location: withParams(redirectUri, {
        error,
        error_description: description,
        state: state ?? undefined,
        iss: context.issuer
      })
    })
    if (state === null) return redirect("invalid_request", "state is given more than once")
    for (const name of ["response_type", "code_challenge", "code_challenge_method", "resource", "scope"]) {
      if (single(params, name) === null) return redirect("invalid_request", `${name} is given more than once`)
    }
    const responseType = single(params, "response_type")
    if (responseType !== "code") return redirect("unsupported_response_type", "Only response_type=code is supported")
    if (single(params, "code_challenge_method") !== "S256") {
      return redirect("invalid_request", "PKCE is required with code_challenge_method=S256")
    }
    const codeChallenge = single(params, "code_challenge")
    if (typeof codeChallenge !== "string" || !challengePattern.test(codeChallenge)) {
      return redirect("invalid_request", "code_challenge must be the 43-character S256 challenge")
    }
    const resource = single(params, "resource") ?? context.resource
    if (resource !== context.resource) {
      return redirect("invalid_target", `resource must be this MCP endpoint, ${context.resource}`)
    }
    const scope = single(params, "scope")
    let scopes: ReadonlyArray<string> | undefined = undefined
    if (typeof scope === "string" && scope.trim() !== "") {
      const asked = [...new Set(scope.split(" ").filter((each) => each !== ""))]
      const unknown = asked.filter((each) => !scopesSupported.includes(each))
      if (unknown.length > 0) return redirect("invalid_scope", `Unknown scope ${unknown.join(" ")}`)
      scopes = asked
    }
    return {
      _tag: "Valid",
      request: {
        client: client.value,
        redirectUri,
        state: state ?? undefined,
        codeChallenge,
        resource,
        scopes,
        issuer: context.issuer
      }
    } satisfies AuthorizeOutcome
  })

  /** The scopes approving grants: those asked for, or the supported ones the session holds. */
  const grantedScopes = (request: AuthorizationRequest, session: SessionCredentialService.SessionInfo) => {
    if (request.scopes !== undefined) {
      return { scopes: request.scopes, notHeld: Scopes.missing(session.scopes, request.scopes) }
    }
    return { scopes: scopesSupported.filter((scope) => Scopes.covers(session.scopes, scope)), notHeld: [] }
  }

  // --- The consent form's CSRF token --------------------------------------------------------

  const binding = (request: AuthorizationRequest, sid: string) =>
    sha256Base64Url(JSON.stringify([sid, request.client.clientId, request.redirectUri, request.codeChallenge]))

  const csrfData = (kid: string, body: string) => `gatehouse/oauth-consent/v1.${kid}.${body}`

  const csrfFor = (request: AuthorizationRequest, sid: string, now: number) => {
    const body = `${binding(request, sid)}.${randomId(16)}.${now + consentTtl}`
    let kid = ""
    const signed = keyring.signUnsafe((current) => csrfData(kid = current, body))
    return `${csrfPrefix}.${kid}.${body}.${signed.signature}`
  }

  /** The token checked (signature, binding, expiry), then used up: `true` once. */
  const useCsrf = Effect.fnUntraced(function*(token: string, request: AuthorizationRequest, sid: string) {
    const parts = token.split(".")
    if (token.length > 512 || parts.length !== 6 || parts[0] !== csrfPrefix) return false
    const [, kid, bound, nonce, expires, signature] = parts as [string, string, string, string, string, string]
    const expiresAt = Number(expires)
    if (!/^\d{1,16}$/.test(expires) || !/^[A-Za-z0-9_-]{1,64}$/.test(kid)) return false
    if (!(yield* keyring.verify(kid, csrfData(kid, `${bound}.${nonce}.${expires}`), signature))) return false
    if (!constantTimeEqualString(bound, binding(request, sid))) return false
    const now = yield* Clock.currentTimeMillis
    if (now >= expiresAt) return false
    return yield* sessionStore.consumeTicket(`oauth-consent.${nonce}`, expiresAt, now).pipe(
      Effect.orElseSucceed(() => false)
    )
  })

  const consent = Effect.fn("OAuthAuthorizationServer.consent")(function*(
    request: AuthorizationRequest,
    session: SessionCredentialService.SessionInfo
  ) {
    const now = yield* Clock.currentTimeMillis
    const { notHeld, scopes } = grantedScopes(request, session)
    const client = request.client
    return {
      clientName: client.clientName,
      clientId: client.clientId,
      clientIdHost: client.kind === "metadata-document" ? new URL(client.clientId).host : undefined,
      redirectUri: request.redirectUri,
      redirectHost: OAuthRedirectUri.hostOf(request.redirectUri),
      redirectIsLocal: OAuthRedirectUri.isLocal(request.redirectUri),
      scopes,
      scopesNotHeld: notHeld,
      canApprove: Scopes.covers(session.scopes, Scopes.writeAccess),
      csrfToken: csrfFor(request, session.sid, now)
    } satisfies ConsentData
  })

  const approve = Effect.fn("OAuthAuthorizationServer.approve")(function*(
    request: AuthorizationRequest,
    session: SessionCredentialService.SessionInfo,
    csrfToken: string
  ) {
    if (!(yield* useCsrf(csrfToken, request, session.sid))) {
      return yield* fail("invalid_request", "The approval form is stale, used already, or not this session's")
    }
    if (!Scopes.covers(session.scopes, Scopes.writeAccess)) {
      return yield* fail("access_denied", "Approving a client needs a session holding write:access")
    }
    const { notHeld, scopes } = grantedScopes(request, session)
    if (notHeld.length > 0) {
      return yield* fail("invalid_scope", `The approving session does not hold ${notHeld.join(" ")}`)
    }
    if (scopes.length === 0) return yield* fail("invalid_scope", "The approving session holds none of these scopes")
    const clientName = ClientMetadata.replaceControlCharacters(
      (request.client.clientName ?? OAuthRedirectUri.hostOf(request.redirectUri)).slice(0, 100)
    )
    const issued = yield* sessions.issue({
      subject: session.subject,
      scopes,
      method: "oauth",
      // No browser holds it: its tokens are carried by the agent as bearer credentials.
      transport: "bearer",
      client: { label: clientName, browser: "via OAuth" }
    }).pipe(Effect.catchTag("InvalidRequest", (error) => fail("invalid_request", error.message)))
    const now = yield* Clock.currentTimeMillis
    yield* store.insertGrant({
      sid: issued.session.sid,
      clientId: request.client.clientId,
      clientName,
      resource: request.resource,
      approvedBy: session.sid,
      createdAt: now
    })
    const code = `${codePrefix}${randomId(32)}`
    yield* store.insertCode({
      codeHash: sha256Base64Url(code),
      sid: issued.session.sid,
      clientId: request.client.clientId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      resource: request.resource,
      expiresAt: now + codeTtl
    })
    return withParams(request.redirectUri, { code, state: request.state, iss: request.issuer })
  })

  const deny = Effect.fn("OAuthAuthorizationServer.deny")(function*(
    request: AuthorizationRequest,
    session: SessionCredentialService.SessionInfo | undefined,
    csrfToken: string
  ) {
    if (session !== undefined && !(yield* useCsrf(csrfToken, request, session.sid))) {
      return yield* fail("invalid_request", "The approval form is stale, used already, or not this session's")
    }
    return withParams(request.redirectUri, {
      error: "access_denied",
      error_description: "The request was denied",
      state: request.state,
      iss: request.issuer
    })
  })

  // --- Tokens --------------------------------------------------------------------------------

  /** Revokes an OAuth session (the grant); the revocation cascade forgets its codes and tokens. */
  const revokeGrant = (sid: SessionId) => Effect.asVoid(sessions.revoke(sid))

  const lastTouch = new Map<SessionId, number>()
  const touch = (sid: SessionId, now: number) => {
    const last = lastTouch.get(sid) ?? 0
    if (now - last < 60_000) return Effect.void
    if (lastTouch.size >= 10_000) lastTouch.clear()
    lastTouch.set(sid, now)
    return Effect.ignore(sessionStore.touch(sid, now))
  }

  const mintPair = Effect.fnUntraced(function*(
    sid: SessionId,
    grant: OAuthStore.OAuthGrant,
    refreshToken: string | undefined,
    jkt: string | undefined
  ) {
    const session = yield* sessions.get(sid)
    if (Option.isNone(session)) return yield* fail("invalid_grant", "The grant has been revoked or has expired")
    const bound = session.value.jkt
    if (bound !== undefined && (jkt === undefined || !constantTimeEqualString(bound, jkt))) {
      // RFC 9449 section 5: the tokens of a bound grant need a proof by its key.
      return yield* fail("invalid_grant", "This grant is bound to a DPoP key: send a DPoP proof by it")
    }
    const minted = yield* accessTokens.mint({
      session: session.value,
      scopes: session.value.scopes,
      expiresIn: Duration.millis(accessTtl),
      audience: grant.resource,
      clientId: grant.clientId,
      jkt
    }).pipe(Effect.mapError((error) => new OAuthError({ error: "invalid_grant", description: error.message })))
    const now = yield* Clock.currentTimeMillis
    let refresh = refreshToken
    if (refresh === undefined) {
      refresh = `${refreshPrefix}${randomId(32)}`
      yield* store.insertRefresh({ tokenHash: sha256Base64Url(refresh), sid, clientId: grant.clientId, createdAt: now })
    }
    yield* touch(sid, now)
    return {
      access_token: Redacted.value(minted.token),
      token_type: jkt === undefined ? "Bearer" as const : "DPoP" as const,
      expires_in: Math.max(1, Math.round((minted.expiresAt - now) / 1000)),
      refresh_token: refresh,
      scope: minted.scopes.join(" ")
    }
  })

  const required = (params: URLSearchParams, name: string) => {
    const value = single(params, name)
    if (value === null) return fail("invalid_request", `${name} is given more than once`)
    if (value === undefined || value === "") return fail("invalid_request", `${name} is required`)
    return Effect.succeed(value)
  }

  const exchangeCode = Effect.fnUntraced(function*(params: URLSearchParams, jkt: string | undefined) {
    const code = yield* required(params, "code")
    const clientId = yield* required(params, "client_id")
    const verifier = yield* required(params, "code_verifier")
    const redirectUri = single(params, "redirect_uri")
    const resource = single(params, "resource")
    if (redirectUri === null || resource === null) return yield* fail("invalid_request", "A parameter is repeated")
    const now = yield* Clock.currentTimeMillis
    const found = code.startsWith(codePrefix) && code.length <= 128
      ? yield* store.consumeCode(sha256Base64Url(code), now)
      : Option.none()
    if (Option.isNone(found)) return yield* fail("invalid_grant", "The code is not valid")
    const record = found.value.code
    if (!found.value.first) {
      // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
      yield* revokeGrant(record.sid)
      return yield* fail("invalid_grant", "The code was used already; the tokens issued from it are revoked")
    }
    if (now >= record.expiresAt) return yield* fail("invalid_grant", "The code has expired")
    if (!constantTimeEqualString(record.clientId, clientId)) {
      return yield* fail("invalid_grant", "The code was issued to another client")
    }
    if (redirectUri !== undefined && redirectUri !== record.redirectUri) {
      return yield* fail("invalid_grant", "redirect_uri is not the one of the authorization request")
    }
    if (!verifierPattern.test(verifier) || !constantTimeEqualString(challengeOf(verifier), record.codeChallenge)) {
      return yield* fail("invalid_grant", "The PKCE code_verifier does not match")
    }
    if (resource !== undefined && resource !== record.resource) {
      return yield* fail("invalid_target", "resource is not the one the code was issued for")
    }
    const grant = yield* store.getGrant(record.sid)
    if (Option.isNone(grant)) return yield* fail("invalid_grant", "The grant has been revoked")
    if (jkt !== undefined) {
      // The code is used once, so this binds the grant (its session) exactly once: the whole
      // refresh family is bound to the key from here on.
      const stored = yield* sessionStore.get(record.sid)
      if (Option.isNone(stored)) return yield* fail("invalid_grant", "The grant has been revoked")
      yield* sessionStore.insert({ ...stored.value, jkt })
    }
    return yield* mintPair(record.sid, grant.value, undefined, jkt)
  })

  const refresh = Effect.fnUntraced(function*(params: URLSearchParams, jkt: string | undefined) {
    const token = yield* required(params, "refresh_token")
    const clientId = yield* required(params, "client_id")
    const resource = single(params, "resource")
    const scope = single(params, "scope")
    if (resource === null || scope === null) return yield* fail("invalid_request", "A parameter is repeated")
    const hash = sha256Base64Url(token)
    const found = token.startsWith(refreshPrefix) && token.length <= 128 ? yield* store.getRefresh(hash) : Option.none()
    if (Option.isNone(found)) return yield* fail("invalid_grant", "The refresh token is not valid")
    const record = found.value
    if (!constantTimeEqualString(record.clientId, clientId)) {
      return yield* fail("invalid_grant", "The refresh token was issued to another client")
    }
    const grant = yield* store.getGrant(record.sid)
    if (Option.isNone(grant)) return yield* fail("invalid_grant", "The grant has been revoked")
    if (resource !== undefined && resource !== grant.value.resource) {
      return yield* fail("invalid_target", "resource is not the one the grant was made for")
    }
    const session = yield* sessions.get(record.sid)
    if (Option.isNone(session)) return yield* fail("invalid_grant", "The grant has been revoked or has expired")
    // Checked before the rotation: a copy of a bound refresh token without the key rotates nothing.
    const bound = session.value.jkt
    if (bound !== undefined && (jkt === undefined || !constantTimeEqualString(bound, jkt))) {
      return yield* fail("invalid_grant", "This refresh token is bound to a DPoP key: send a DPoP proof by it")
    }
    if (scope !== undefined && scope.trim() !== "") {
      const missing = Scopes.missing(session.value.scopes, scope.split(" ").filter((each) => each !== ""))
      if (missing.length > 0) return yield* fail("invalid_scope", `The grant does not cover ${missing.join(" ")}`)
    }
    const now = yield* Clock.currentTimeMillis
    const withinGrace = (rotated: OAuthStore.OAuthRefreshToken) =>
      rotated.rotatedAt !== undefined && now - rotated.rotatedAt <= grace && rotated.successorSeal !== undefined
        ? unseal(token, rotated.successorSeal)
        : undefined
    const replay = Effect.fnUntraced(function*(rotated: OAuthStore.OAuthRefreshToken) {
      const successor = withinGrace(rotated)
      if (successor !== undefined && Option.isSome(yield* store.getRefresh(sha256Base64Url(successor)))) {
        return yield* mintPair(record.sid, grant.value, successor, jkt)
      }
      // A rotated token presented after the grace: someone else holds a copy. End the family.
      yield* revokeGrant(record.sid)
      return yield* fail("invalid_grant", "The refresh token was used already; the grant is revoked")
    })
    if (record.rotatedAt !== undefined) return yield* replay(record)
    const successor = `${refreshPrefix}${randomId(32)}`
    // The successor exists before the old token points at it, so a retry always finds it.
    yield* store.insertRefresh({
      tokenHash: sha256Base64Url(successor),
      sid: record.sid,
      clientId: record.clientId,
      createdAt: now
    })
    if (yield* store.rotateRefresh(hash, seal(token, successor), now)) {
      return yield* mintPair(record.sid, grant.value, successor, jkt)
    }
    // Another request rotated it first: answer as its retry would be answered.
    yield* store.removeRefresh(sha256Base64Url(successor))
    const rotated = yield* store.getRefresh(hash)
    if (Option.isNone(rotated)) return yield* fail("invalid_grant", "The refresh token is not valid")
    return yield* replay(rotated.value)
  })

  const token = Effect.fn("OAuthAuthorizationServer.token")(function*(
    params: URLSearchParams,
    context: AuthorizationContext,
    proof?: { readonly jkt: string } | undefined
  ) {
    const grantType = single(params, "grant_type")
    // The code and the refresh token carry their resource: the context is not needed to honour them.
    void context
    if (grantType === "authorization_code") return yield* exchangeCode(params, proof?.jkt)
    if (grantType === "refresh_token") return yield* refresh(params, proof?.jkt)
    if (grantType === undefined || grantType === null) return yield* fail("invalid_request", "grant_type is required")
    return yield* fail("unsupported_grant_type", "Only authorization_code and refresh_token are supported")
  })

  const verifyAccessToken = (token: Redacted.Redacted<string>, resource: string) =>
    accessTokens.verify(token, { audience: resource }).pipe(
      Effect.flatMap((verified) => {
        const clientId = verified.clientId
        if (clientId === undefined) return Effect.succeed(Option.none<OAuthPrincipal>())
        return Effect.flatMap(store.getGrant(verified.session.sid), (grant) => {
          if (Option.isNone(grant) || grant.value.clientId !== clientId || grant.value.resource !== resource) {
            return Effect.succeed(Option.none<OAuthPrincipal>())
          }
          return Effect.as(
            Effect.flatMap(Clock.currentTimeMillis, (now) => touch(verified.session.sid, now)),
            Option.some<OAuthPrincipal>({
              sid: verified.session.sid,
              subject: verified.session.subject,
              clientId,
              clientName: grant.value.clientName,
              scopes: verified.session.scopes,
              ...(verified.jkt === undefined ? {} : { jkt: verified.jkt })
            })
          )
        })
      }),
      Effect.catchTags({
        InvalidAccessToken: () => Effect.succeed(Option.none<OAuthPrincipal>()),
        ExpiredAccessToken: () => Effect.succeed(Option.none<OAuthPrincipal>())
      })
    )

  const revoke = Effect.fn("OAuthAuthorizationServer.revoke")(function*(
    params: URLSearchParams,
    context: AuthorizationContext
  ) {
    const token = yield* required(params, "token")
    const clientId = yield* required(params, "client_id")
    if (token.startsWith(refreshPrefix) && token.length <= 128) {
      const found = yield* store.getRefresh(sha256Base64Url(token))
      if (Option.isSome(found) && constantTimeEqualString(found.value.clientId, clientId)) {
        // Revoking a refresh token revokes the grant, and so every access token issued from it.
        yield* revokeGrant(found.value.sid)
      }
      return
    }
    if (AccessTokens.looksLikeJwt(token)) {
      const principal = yield* verifyAccessToken(Redacted.make(token), context.resource)
      if (Option.isSome(principal) && constantTimeEqualString(principal.value.clientId, clientId)) {
        yield* revokeGrant(principal.value.sid)
      }
    }
  })

  return OAuthAuthorizationServer.of({
    scopesSupported,
    authorize,
    consent,
    approve,
    deny,
    token,
    revoke,
    verifyAccessToken
  })
})

/**
 * Revoking a session revokes the OAuth grants it approved (and forgets the codes and refresh
 * tokens of any grant revoked), for the lifetime of the current scope.
 */
export const revocationCascade: Effect.Effect<
  void,
  never,
  Scope.Scope | OAuthStore.OAuthStore | SessionCredentialService.SessionCredentialService
> = Effect.gen(function*() {
  const store = yield* OAuthStore.OAuthStore
  const sessions = yield* SessionCredentialService.SessionCredentialService
  yield* sessions.addRevocationCascade((sids, reason) =>
    Effect.gen(function*() {
      yield* store.removeGrants(sids)
      // A grant outlives the approving session's expiry (it has its own lifetimes), not its revoke.
      if (reason === "expired") return
      const approved = yield* store.grantsApprovedBy(sids)
      yield* Effect.forEach(approved, (sid) => sessions.revoke(sid), { discard: true })
    })
  )
})

/**
 * The server over the `OAuthStore`, `OAuthClients`, `AccessTokens`, sessions and keyring provided,
 * with the revocation cascade in place.
 */
export const layer = (options: Options) =>
  Layer.effect(OAuthAuthorizationServer, Effect.tap(make(options), () => revocationCascade))
