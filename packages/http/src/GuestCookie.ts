/**
 * The guest cookie: `gatehouse_guest_<port>` on plain-HTTP loopback, `__Host-gatehouse_guest` over
 * HTTPS, with the session cookie's attributes (HttpOnly, SameSite=Lax, Path=/, no Domain, Secure
 * whenever the session cookie would be). The policy alone decides them. It is the only cookie the
 * guest routes read.
 */
import type { ServerAuthPolicy } from "@gatehouse-auth/core"
import { Effect, Redacted } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { cookieOptions } from "./HttpAuth.ts"
import * as RequestInfo from "./RequestInfo.ts"

export const prefix = "gatehouse_guest"

type Request = HttpServerRequest.HttpServerRequest
type Response = HttpServerResponse.HttpServerResponse

export const attributes = (policy: ServerAuthPolicy.ServerAuthPolicyShape, request: Request) =>
  policy.cookie(prefix, RequestInfo.isHttps(request))

/** The guest cookie the request presents, if exactly one well-formed value came. */
export const read = (
  policy: ServerAuthPolicy.ServerAuthPolicyShape,
  request: Request
): Redacted.Redacted<string> | undefined => {
  const presented = RequestInfo.cookieValue(request, attributes(policy, request).name)
  return presented._tag === "Token" ? presented.token : undefined
}

/** Sets the guest cookie for `lifetimeMillis` (the guest's idle lifetime: each use slides it). */
export const set = (
  policy: ServerAuthPolicy.ServerAuthPolicyShape,
  request: Request,
  response: Response,
  value: Redacted.Redacted<string>,
  lifetimeMillis: number
) => {
  const cookie = attributes(policy, request)
  return HttpServerResponse.setCookie(response, cookie.name, Redacted.value(value), {
    ...cookieOptions(cookie),
    maxAge: `${Math.floor(lifetimeMillis / 1000)} seconds`
  }).pipe(Effect.orDie)
}

export const clear = (policy: ServerAuthPolicy.ServerAuthPolicyShape, request: Request, response: Response) => {
  const cookie = attributes(policy, request)
  return HttpServerResponse.expireCookie(response, cookie.name, cookieOptions(cookie)).pipe(Effect.orDie)
}
