/**
 * The guest routes (with `guests: true` in `HttpAuthLayer`; they need core's `GuestSessionService`):
 *
 * - `POST /api/auth/guest-session` `{ mode?, legacyToken? }`: `200 { guestId, token, expiresAt }`
 *   with the guest cookie; `lookup_only` and no usable cookie: `204`, no cookie; a revoked guest:
 *   `403 guest_revoked` and the cookie cleared. A miss is only ever this 204: an unknown route stays
 *   a JSON 404, so a client can tell "no guest" from "wrong server".
 * - `POST /api/auth/guest-session/revoke`: `200 { revoked }`, the cookie always cleared.
 *
 * Only the guest cookie is read (a session cookie or any other changes nothing). Both routes set
 * or clear a cookie, so both are Origin-checked; both answer `Cache-Control: no-store`. The first
 * is rate limited per address (`HttpAuth.guestAttempt`): answering a guest found by its cookie is
 * free, creating one, trying a legacy token or presenting an unknown cookie costs a token.
 */
import { GuestSessionService, ServerAuthPolicy } from "@gatehouse-auth/core"
import { Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
import * as GuestCookie from "./GuestCookie.ts"
import { HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import * as RequestInfo from "./RequestInfo.ts"

const noStore = { "cache-control": "no-store" }

type Outcome =
  | { readonly _tag: "Found"; readonly answer: GuestSessionService.GuestAnswer; readonly spent: boolean }
  | { readonly _tag: "Miss"; readonly spent: boolean }
  | { readonly _tag: "Revoked" }

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth
  const guests = yield* GuestSessionService.GuestSessionService
  const policy = yield* ServerAuthPolicy.ServerAuthPolicy
  const settings = yield* HttpAuthSettings
  const readBody = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, expected: string) =>
    JsonBody.read(schema, {
      maxBytes: settings.maxBodyBytes,
      maxDepth: settings.maxJsonDepth,
      expected,
      optional: true
    })

  const found = (answer: GuestSessionService.GuestAnswer, spent: boolean): Outcome => ({
    _tag: "Found",
    answer,
    spent
  })

  /** What the request's cookie and body come to; a revoked guest is an outcome, not a failure. */
  const evaluate = (
    cookie: Redacted.Redacted<string> | undefined,
    body: AuthApi.GuestSessionRequest
  ): Effect.Effect<Outcome, AuthError.Mappable> => {
    const legacyToken = body.legacyToken === undefined
      ? undefined
      : Redacted.make(body.legacyToken, { label: "legacy-guest-token" })
    const byCookie = cookie === undefined ? Effect.succeedNone : guests.lookup(cookie)
    return Effect.flatMap(byCookie, (hit): Effect.Effect<Outcome, AuthError.Mappable> => {
      if (Option.isSome(hit)) return Effect.succeed(found(hit.value, false))
      const looked = cookie !== undefined || legacyToken !== undefined
      if (body.mode === "lookup_only") {
        if (legacyToken === undefined) return Effect.succeed({ _tag: "Miss", spent: looked })
        return Effect.map(
          guests.lookup(undefined, { legacyToken }),
          (migrated) => Option.isSome(migrated) ? found(migrated.value, true) : { _tag: "Miss", spent: true }
        )
      }
      return Effect.map(guests.lookupOrCreate(undefined, { legacyToken }), (answer) => found(answer, true))
    }).pipe(Effect.catchTag("GuestRevoked", () => Effect.succeed<Outcome>({ _tag: "Revoked" })))
  }

  const respond = (request: HttpServerRequest.HttpServerRequest, outcome: Outcome) => {
    switch (outcome._tag) {
      case "Revoked":
        return GuestCookie.clear(policy, request, AuthError.toResponse(AuthError.guestRevoked()))
      case "Miss":
        return Effect.succeed(HttpServerResponse.empty({ status: 204, headers: noStore }))
      case "Found": {
        const { answer } = outcome
        const response = HttpServerResponse.jsonUnsafe(
          Schema.encodeSync(AuthApi.GuestSessionResponse)({
            guestId: answer.guest.id,
            token: Redacted.value(answer.token),
            expiresAt: answer.expiresAt
          }),
          { headers: noStore }
        )
        // Set again on every answer that knows it, so the cookie lives as long as the guest does.
        return answer.cookie === undefined
          ? Effect.succeed(response)
          : GuestCookie.set(policy, request, response, answer.cookie, guests.idleLifetimeMillis)
      }
    }
  }

  yield* router.add("POST", "/api/auth/guest-session", (request) =>
    auth.public(Effect.gen(function*() {
      yield* auth.checkOrigin
      const body = yield* readBody(AuthApi.GuestSessionRequest, `{"mode": "lookup_or_create" | "lookup_only"}`)
      const cookie = GuestCookie.read(policy, request)
      const outcome = yield* auth.guestAttempt(
        evaluate(cookie, body),
        (outcome) => outcome._tag !== "Revoked" && outcome.spent
      )
      return yield* respond(request, outcome)
    })))

  yield* router.add("POST", "/api/auth/guest-session/revoke", (request) =>
    auth.public(Effect.gen(function*() {
      yield* auth.checkOrigin
      yield* readBody(AuthApi.EmptyRequest, "{}")
      const cookie = GuestCookie.read(policy, request)
      const bearer = RequestInfo.bearerToken(request)
      // The guest of the cookie, else of a guest bearer token; one not live is nothing to revoke.
      // A bad bearer token is a refused credential (401, counted); a revoked guest is nothing to do.
      const guest: Effect.Effect<
        Option.Option<GuestSessionService.GuestInfo>,
        AuthError.Mappable,
        HttpServerRequest.HttpServerRequest
      > = cookie !== undefined
        ? Effect.map(guests.lookup(cookie), Option.map((answer) => answer.guest)).pipe(
          Effect.catchTag("GuestRevoked", () => Effect.succeedNone)
        )
        : bearer._tag === "Token"
        ? auth.countFailures(
          Effect.asSome(guests.verify(bearer.token)).pipe(
            Effect.catchTag("GuestRevoked", () => Effect.succeedNone)
          )
        )
        : Effect.succeedNone
      const live = yield* guest
      const wasLive = Option.isSome(live) && (yield* guests.revoke(live.value.id))
      const response = HttpServerResponse.jsonUnsafe(
        Schema.encodeSync(AuthApi.RevokeResponse)({ revoked: wasLive }),
        { headers: noStore }
      )
      return yield* GuestCookie.clear(policy, request, response)
    })))
}))
