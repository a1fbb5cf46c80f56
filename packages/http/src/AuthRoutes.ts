/**
 * The `/api/auth/*` routes. Bodies are decoded and responses encoded with `AuthApi`. Services are resolved
 * once when the layer is built; handlers only read the request. No token ever appears in a
 * response of the cookie flow or in a list; credential responses carry `Cache-Control: no-store`.
 */
import {
  BootstrapCredentialService,
  Crockford,
  Ids,
  Scopes,
  ServerAuth,
  SessionCredentialService
} from "@gatehouse-auth/core"
import { Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
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

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth
  const serverAuth = yield* ServerAuth.ServerAuth
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const grants = yield* BootstrapCredentialService.BootstrapCredentialService
  const settings = yield* HttpAuthSettings
  const readBody = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, expected: string, optional = false) =>
    JsonBody.read(schema, { maxBytes: settings.maxBodyBytes, expected, optional })

  const presented = (request: HttpServerRequest.HttpServerRequest) => {
    const cookie = RequestInfo.cookieValue(request, auth.sessionCookie(request).name)
    const bearer = RequestInfo.bearerToken(request)
    return {
      cookie: cookie._tag === "Token" ? cookie.token : undefined,
      bearer: bearer._tag === "Token" ? bearer.token : undefined
    }
  }

  /** Exchanges a credential under the client's pairing budget (reserved first, refunded on success). */
  const exchange = (credential: string, client: Parameters<typeof serverAuth.exchangeBootstrapCredential>[1]) =>
    auth.pairingAttempt(
      serverAuth.exchangeBootstrapCredential(Redacted.make(credential, { label: "bootstrap-credential" }), client)
    )

  yield* router.add(
    "GET",
    "/api/auth/session",
    (request) =>
      auth.respond(
        Effect.map(serverAuth.getSessionState(presented(request)), (state) =>
          json(AuthApi.SessionStateResponse, {
            authenticated: Option.isSome(state),
            ...(Option.isSome(state) ? { session: AuthApi.sessionView(state.value.session) } : {}),
            ...(RequestInfo.cookieValue(request, auth.sessionCookie(request).name)._tag === "Ambiguous"
              ? { problem: "ambiguous_cookie" as const }
              : {}),
            auth: serverAuth.policy.descriptor(RequestInfo.isHttps(request))
          }))
      )
  )

  yield* router.add("POST", "/api/auth/bootstrap", (request) =>
    auth.respond(Effect.gen(function*() {
      // Setting a session cookie from another site's page would be login CSRF.
      yield* auth.checkOrigin
      const body = yield* readBody(AuthApi.BootstrapRequest, `{"credential": "XXXX-XXXX-XXXX-XXXX"}`)
      const { session, token } = yield* exchange(body.credential, { client: RequestInfo.describeClient(request) })
      const response = json(AuthApi.BootstrapResponse, { authenticated: true, session: AuthApi.sessionView(session) })
      return yield* auth.setSessionCookie(request, response, token, session.absoluteExpiresAt)
    })))

  yield* router.add("POST", "/api/auth/bootstrap/bearer", (request) =>
    auth.respond(Effect.gen(function*() {
      const body = yield* readBody(
        AuthApi.BearerBootstrapRequest,
        `{"credential": "XXXX-XXXX-XXXX-XXXX", "client": {"label": "..."}}`
      )
      const client = { ...RequestInfo.describeClient(request), ...compact({ ...body.client }) }
      const { session, token } = yield* exchange(body.credential, { client })
      return json(AuthApi.BearerBootstrapResponse, {
        accessToken: Redacted.value(token),
        tokenType: "Bearer",
        expiresAt: session.expiresAt,
        session: AuthApi.sessionView(session)
      })
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
        const issued = yield* grants.issue({
          subject: session.subject,
          scopes,
          ttl: `${ttlSeconds} seconds`,
          label: body.label,
          // Revoking this session (revoke, revoke-others, logout) revokes the link.
          createdBy: session.sid
        })
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
    auth.requireScopes([Scopes.readAccess])(
      Effect.map(grants.list, (links) => json(AuthApi.PairingLinkListResponse, { links: links.map(AuthApi.grantView) }))
    )
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
}))
