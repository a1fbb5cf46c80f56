/**
 * The `/api/auth/*` routes. Bodies are decoded and responses encoded with `AuthApi`. Services are resolved
 * once when the layer is built; handlers only read the request. No token ever appears in a
 * response of the cookie flow or in a list; credential responses carry `Cache-Control: no-store`.
 */
import {
  AccessTokens,
  Base64Url,
  BootstrapCredentialService,
  Crockford,
  DpopVerifier,
  GuestSessionService,
  Ids,
  Scopes,
  ServerAuth,
  ServerAuthPolicy,
  SessionCredentialService
} from "@gatehouse-auth/core"
import { Effect, Option, Redacted, Schema, Semaphore } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
import * as GuestCookie from "./GuestCookie.ts"
import { CurrentSession, HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import * as RequestInfo from "./RequestInfo.ts"

const noStore = { "cache-control": "no-store" }

/** A response encoded with its `AuthApi` Schema, so what goes on the wire is what the Schema says. */
const json = <S extends Schema.ConstraintEncoder<unknown>>(schema: S, body: S["Type"], status = 200) =>
  HttpServerResponse.jsonUnsafe(Schema.encodeSync(schema)(body), { status, headers: noStore })

const compact = <A extends Record<string, unknown>>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A

/** Where a page of the pairing-link list starts: after the link created at `createdAt` with `id`. */
interface After {
  readonly createdAt: number
  readonly id: string
}

/** The cursor after `grant`: base64url of `<createdAt>.<id>`, opaque to clients. */
export const pairingLinkCursor = (grant: After): string => Base64Url.encodeString(`${grant.createdAt}.${grant.id}`)

const parseCursor = (cursor: string): After | undefined => {
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{1,64})$/.exec(Base64Url.decodeOrUndefined(cursor)?.toString("utf8") ?? "")
  return match === null ? undefined : { createdAt: Number(match[1]), id: match[2]! }
}

/** `limit` and `cursor` of `GET /api/auth/pairing-links`, or a 400 that says what is wrong. */
const pairingLinkPage = (params: URLSearchParams) => {
  const { defaultLimit, maxLimit } = AuthApi.pairingLinkPage
  const limitText = params.get("limit")
  const limit = limitText === null ? defaultLimit : /^\d{1,3}$/.test(limitText) ? Number(limitText) : Number.NaN
  if (!(limit >= 1 && limit <= maxLimit)) {
    return Effect.fail(AuthError.invalidRequest(`limit must be a whole number from 1 to ${maxLimit}`))
  }
  const cursor = params.get("cursor")
  const after = cursor === null ? undefined : parseCursor(cursor)
  if (cursor !== null && after === undefined) {
    return Effect.fail(AuthError.invalidRequest("cursor must be a nextCursor from an earlier page"))
  }
  return Effect.succeed({ limit, after })
}

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth
  const serverAuth = yield* ServerAuth.ServerAuth
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const grants = yield* BootstrapCredentialService.BootstrapCredentialService
  const settings = yield* HttpAuthSettings
  const readBody = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, expected: string, optional = false) =>
    JsonBody.read(schema, { maxBytes: settings.maxBodyBytes, maxDepth: settings.maxJsonDepth, expected, optional })
  // Counting the open links and adding one is one step in this process, so concurrent requests
  // cannot pass the cap together (instances sharing a database can, by one link each at most).
  const issuing = yield* Semaphore.make(1)
  const guests = yield* Effect.serviceOption(GuestSessionService.GuestSessionService)
  const accessTokens = yield* Effect.serviceOption(AccessTokens.AccessTokens)

  /**
   * A browser that holds a guest cookie just paired as `session`: the guest is promoted (merged by
   * the application's hook, then revoked) and its cookie cleared. Never fails the pairing: a
   * failure is logged and the guest kept, so it can be merged later.
   */
  const promoteGuest = (
    request: HttpServerRequest.HttpServerRequest,
    session: SessionCredentialService.SessionInfo,
    response: HttpServerResponse.HttpServerResponse
  ) => {
    const cookie = GuestCookie.read(serverAuth.policy, request)
    if (Option.isNone(guests) || cookie === undefined) return Effect.succeed(response)
    const service = guests.value
    return Effect.flatMap(
      service.lookup(cookie),
      (found) => Option.isNone(found) ? Effect.succeed(false) : service.promote(found.value.guest.id, session)
    ).pipe(
      Effect.catchCause((cause) =>
        Effect.as(Effect.logWarning("Guest promotion failed; the guest is kept", cause), false)
      ),
      Effect.flatMap((promoted) =>
        promoted ? GuestCookie.clear(serverAuth.policy, request, response) : Effect.succeed(response)
      )
    )
  }

  const presented = (request: HttpServerRequest.HttpServerRequest) => {
    const cookie = RequestInfo.cookieValue(request, auth.sessionCookie(request).name)
    const bearer = RequestInfo.bearerToken(request)
    return {
      cookie: cookie._tag === "Token" ? cookie.token : undefined,
      bearer: bearer._tag === "Token" ? bearer.token : undefined,
      ambiguousCookie: cookie._tag === "Ambiguous"
    }
  }

  /**
   * A Secure session cookie over plain HTTP is kept by browsers only for loopback names
   * (`localhost`, `127.0.0.1`, `[::1]`: potentially trustworthy origins); for any other Host it is
   * dropped, and the exchange would use the code up for nothing.
   */
  const insecureTransport = (request: HttpServerRequest.HttpServerRequest) => {
    if (!auth.sessionCookie(request).secure || RequestInfo.isHttps(request)) return undefined
    const host = RequestInfo.hostName(request.headers["host"])
    if (host !== undefined && ServerAuthPolicy.isLoopbackHost(host)) return undefined
    return Effect.fail(AuthError.insecureTransport(host ?? "this server", settings.insecureTransportAdvice))
  }

  /**
   * Exchanges a credential under the client's pairing budget (reserved first, refunded on success).
   * A DPoP proof that came with it is used up first, inside the budget: so a flood of proofs costs
   * the flooder its pairing budget, and a replayed proof never reaches the code.
   */
  const exchange = (
    credential: string,
    client: Parameters<typeof serverAuth.exchangeBootstrapCredential>[1],
    proof: Option.Option<DpopVerifier.VerifiedProof> = Option.none()
  ) =>
    auth.pairingAttempt(Effect.andThen(
      Option.isSome(proof) ? auth.consumeProof(proof.value) : Effect.void,
      serverAuth.exchangeBootstrapCredential(Redacted.make(credential, { label: "bootstrap-credential" }), client)
    ))

  yield* router.add(
    "GET",
    "/api/auth/session",
    (request) => {
      const credentials = presented(request)
      // A bound credential counts only as `DPoP` with its proof (the full check); as `Bearer` it
      // stands for nothing, as any refused credential here.
      const stateOf = RequestInfo.isDpopScheme(request)
        ? Effect.match(auth.authenticate, { onFailure: () => Option.none(), onSuccess: Option.some })
        : Effect.map(
          serverAuth.getSessionState(credentials),
          Option.filter((state) => state.session.jkt === undefined && state.accessToken?.jkt === undefined)
        )
      return auth.respond(
        Effect.map(stateOf, (state) =>
          json(AuthApi.SessionStateResponse, {
            authenticated: Option.isSome(state),
            ...(Option.isSome(state) ? { session: AuthApi.sessionView(state.value.session) } : {}),
            ...(credentials.ambiguousCookie ? { problem: "ambiguous_cookie" as const } : {}),
            auth: serverAuth.policy.descriptor(RequestInfo.isHttps(request))
          }))
      )
    }
  )

  yield* router.add("POST", "/api/auth/bootstrap", (request) =>
    auth.respond(Effect.gen(function*() {
      // Setting a session cookie from another site's page would be login CSRF.
      yield* auth.checkOrigin
      // Before the body is read and the code looked at: a cookie the browser would drop would burn it.
      const refused = insecureTransport(request)
      if (refused !== undefined) return yield* refused
      const body = yield* readBody(AuthApi.BootstrapRequest, `{"credential": "XXXX-XXXX-XXXX-XXXX"}`)
      const { session, token } = yield* exchange(body.credential, {
        client: RequestInfo.describeClient(request),
        transport: "cookie"
      })
      const response = json(AuthApi.BootstrapResponse, { authenticated: true, session: AuthApi.sessionView(session) })
      const withCookie = yield* auth.setSessionCookie(request, response, token, session.absoluteExpiresAt)
      return yield* promoteGuest(request, session, withCookie)
    })))

  yield* router.add("POST", "/api/auth/bootstrap/bearer", (request) =>
    auth.respond(Effect.gen(function*() {
      const body = yield* readBody(
        AuthApi.BearerBootstrapRequest,
        `{"credential": "XXXX-XXXX-XXXX-XXXX", "client": {"label": "..."}}`
      )
      // A proof (no `ath`: there is no token yet) binds the new session to its key.
      const proof = yield* auth.tokenlessProof
      const client = { ...RequestInfo.describeClient(request), ...compact({ ...body.client }) }
      const jkt = Option.getOrUndefined(Option.map(proof, (verified) => verified.jkt))
      const { session, token } = yield* exchange(body.credential, { client, transport: "bearer", jkt }, proof)
      const response = yield* promoteGuest(
        request,
        session,
        json(AuthApi.BearerBootstrapResponse, {
          accessToken: Redacted.value(token),
          tokenType: session.jkt === undefined ? "Bearer" : "DPoP",
          expiresAt: session.expiresAt,
          session: AuthApi.sessionView(session)
        })
      )
      return session.jkt === undefined ? response : yield* auth.withDpopNonce(response)
    })))

  yield* router.add("POST", "/api/auth/logout", (request) =>
    auth.requireSession(Effect.gen(function*() {
      yield* readBody(AuthApi.EmptyRequest, "{}", true)
      const { session } = yield* CurrentSession
      yield* sessions.revoke(session.sid)
      return yield* auth.clearSessionCookie(request, HttpServerResponse.empty({ status: 204, headers: noStore }))
    })))

  yield* router.add(
    "POST",
    "/api/auth/ws-ticket",
    auth.requireSession(Effect.gen(function*() {
      yield* readBody(AuthApi.EmptyRequest, "{}", true)
      const { session } = yield* CurrentSession
      const { expiresAt, ticket } = yield* sessions.issueWebSocketTicket(session.sid, session.scopes)
      return json(AuthApi.WebSocketTicketResponse, { ticket: Redacted.value(ticket), expiresAt })
    }))
  )

  yield* router.add(
    "GET",
    "/api/auth/sessions",
    auth.requireScopes([Scopes.readAccess])(Effect.gen(function*() {
      const { session } = yield* CurrentSession
      const all = yield* sessions.list
      return json(AuthApi.SessionListResponse, { sessions: all.map((each) => AuthApi.sessionView(each, session.sid)) })
    }))
  )

  yield* router.add(
    "DELETE",
    "/api/auth/sessions/:id",
    auth.requireScopes([Scopes.writeAccess])(Effect.gen(function*() {
      const { session } = yield* CurrentSession
      // An id that cannot be a session id names no session: nothing to revoke.
      const id = Ids.SessionId.makeOption((yield* HttpRouter.params).id ?? "")
      if (Option.isSome(id) && id.value === session.sid) {
        return yield* AuthError.forbidden("You cannot revoke your own session here; log out instead")
      }
      return json(AuthApi.RevokeResponse, { revoked: Option.isSome(id) && (yield* sessions.revoke(id.value)) })
    }))
  )

  yield* router.add(
    "POST",
    "/api/auth/sessions/revoke-others",
    auth.requireScopes([Scopes.writeAccess])(Effect.gen(function*() {
      yield* readBody(AuthApi.EmptyRequest, "{}", true)
      const { session } = yield* CurrentSession
      return json(AuthApi.RevokeOthersResponse, { revokedCount: yield* sessions.revokeAllExcept(session.sid) })
    }))
  )

  yield* router.add(
    "POST",
    "/api/auth/pairing-links",
    (request) =>
      auth.requireScopes([Scopes.writeAccess])(Effect.gen(function*() {
        const { session, via } = yield* CurrentSession
        if (via === "none") return yield* AuthError.notWhileAuthenticationIsOff("Pairing links")
        // A link outlives the token and pairs a whole session: minting one would turn a short, narrow
        // token into a long-lived credential, as minting tokens from a token would.
        if (via === "access-token") return yield* AuthError.forbidden("An access token cannot create pairing links")
        const body = yield* readBody(
          AuthApi.PairingLinkRequest,
          `{"ttlSeconds": 300, "label": "phone", "scopes": ["read:hello"]}`,
          true
        )
        const scopes = body.scopes ?? Scopes.standard(settings.applicationScopes)
        const missing = Scopes.missing(session.scopes, scopes)
        if (missing.length > 0) return yield* AuthError.insufficientScope(missing)
        const ttlSeconds = body.ttlSeconds ?? settings.pairingLinkTtlSeconds
        if (ttlSeconds > settings.maxPairingLinkTtlSeconds) {
          return yield* AuthError.invalidRequest(`ttlSeconds must be at most ${settings.maxPairingLinkTtlSeconds}`)
        }
        const issued = yield* issuing.withPermit(Effect.gen(function*() {
          // Links made here carry their creator; the startup URL and `gatehouse pair` are not counted.
          const open = (yield* grants.list).filter((grant) => grant.kind === "pairing" && grant.createdBy !== undefined)
          if (open.length >= settings.maxOpenPairingLinks) {
            return yield* AuthError.tooManyPairingLinks(settings.maxOpenPairingLinks)
          }
          return yield* grants.issue({
            subject: session.subject,
            scopes,
            ttl: `${ttlSeconds} seconds`,
            label: body.label,
            // Consumed only by a bearer bootstrap with a DPoP proof by this key.
            proofKeyThumbprint: body.proofKeyThumbprint,
            // Revoking this session (revoke, revoke-others, logout) revokes the link.
            createdBy: session.sid
          })
        }))
        const origin = settings.publicOrigin ?? RequestInfo.ownOrigin(request) ?? ""
        return json(AuthApi.PairingLinkResponse, {
          id: issued.id,
          credential: Crockford.format(Redacted.value(issued.credential)),
          url: Redacted.value(BootstrapCredentialService.pairingUrl(origin, issued.credential)),
          expiresAt: issued.expiresAt,
          scopes: issued.grant.scopes
        }, 201)
      }))
  )

  yield* router.add(
    "GET",
    "/api/auth/pairing-links",
    (request) =>
      auth.requireScopes([Scopes.readAccess])(Effect.gen(function*() {
        const page = yield* pairingLinkPage(new URL(request.url, "http://localhost").searchParams)
        // In (createdAt, id) order, the links after the cursor's.
        const all = [...yield* grants.list].sort((a, b) =>
          a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
        )
        const after = page.after
        const rest = after === undefined
          ? all
          : all.filter((grant) =>
            grant.createdAt > after.createdAt || (grant.createdAt === after.createdAt && grant.id > after.id)
          )
        const links = rest.slice(0, page.limit)
        const last = links.at(-1)
        return json(AuthApi.PairingLinkListResponse, {
          links: links.map(AuthApi.grantView),
          ...(rest.length > links.length && last !== undefined
            ? { nextCursor: pairingLinkCursor(last) }
            : {})
        })
      }))
  )

  yield* router.add(
    "DELETE",
    "/api/auth/pairing-links/:id",
    auth.requireScopes([Scopes.writeAccess])(
      Effect.flatMap(HttpRouter.params, ({ id }) => {
        const grantId = Ids.GrantId.makeOption(id ?? "")
        return Option.isNone(grantId)
          ? Effect.succeed(json(AuthApi.RevokeResponse, { revoked: false }))
          : Effect.map(grants.revoke(grantId.value), (revoked) => json(AuthApi.RevokeResponse, { revoked }))
      })
    )
  )

  if (Option.isSome(accessTokens)) {
    const tokens = accessTokens.value

    yield* router.add(
      "POST",
      "/api/auth/tokens",
      auth.requireIssuingSession(Effect.gen(function*() {
        const { dpopKey, session, via } = yield* CurrentSession
        if (via === "none") return yield* AuthError.notWhileAuthenticationIsOff("Access tokens")
        // A token is narrower and shorter-lived than its session; minting from a token would chain them.
        if (via === "access-token") return yield* AuthError.forbidden("An access token cannot mint access tokens")
        // `requireDpop`: no unbound token is minted, whatever the session (a cookie one included).
        if (settings.requireDpop && auth.dpopAlgorithms.length > 0 && dpopKey === undefined) {
          return yield* AuthError.dpopProofRequired()
        }
        const body = yield* readBody(
          AuthApi.AccessTokenRequest,
          `{"scopes": ["read:hello"], "expiresInSeconds": 900, "oneTimeUse": false}`
        )
        const minted = yield* tokens.mint({
          session,
          scopes: body.scopes,
          expiresIn: body.expiresInSeconds === undefined ? undefined : `${body.expiresInSeconds} seconds`,
          oneTimeUse: body.oneTimeUse,
          // Bound to the key of the request's proof; a bound session is refused without one.
          jkt: dpopKey
        })
        return json(AuthApi.AccessTokenResponse, {
          token: Redacted.value(minted.token),
          tokenType: dpopKey === undefined ? "Bearer" : "DPoP",
          expiresAt: minted.expiresAt,
          scopes: minted.scopes
        })
      }))
    )

    yield* router.add(
      "GET",
      "/.well-known/jwks.json",
      auth.public(
        Effect.map(tokens.jwks, (jwks) =>
          HttpServerResponse.jsonUnsafe(Schema.encodeSync(AuthApi.JwksResponse)(jwks), {
            // Short, so a verifier sees a rotated key within a minute.
            headers: { "cache-control": "public, max-age=60" }
          }))
      )
    )
  }
}))
