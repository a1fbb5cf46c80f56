/**
 * Request-wide guards:
 *
 * - `layer`: global router middleware. On a loopback policy it first refuses any raw `Host` but
 *   `localhost`, `127.0.0.1`, `[::1]` or the loopback address it is bound to (with or without a
 *   port): the DNS-rebinding guard, which looks at the Host the client sent, never at an
 *   `X-Forwarded-Host`. Then it applies
 *   `X-Forwarded-*` only from configured trusted proxies (so the client address used for rate
 *   limits and the scheme used for cookies cannot be spoofed).
 * - `clearAmbiguousCookies`: global router middleware. A request that carried the session
 *   cookie's (or the guest cookie's) name more than once (cookie tossing: any page on another port of this host can set
 *   one) is authenticated by neither (`RequestInfo.cookieValue` says `Ambiguous`), and its
 *   response expires that name on `/` and on every prefix of the request's path, so the browser
 *   recovers by pairing again instead of staying stuck behind a cookie it cannot see.
 */
import { ServerAuthPolicy } from "@gatehouse-auth/core"
import { Effect, Result } from "effect"
import { Cookies, HttpMiddleware, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { IpNetwork } from "effect/net"
import * as AuthError from "./AuthError.ts"
import * as GuestCookie from "./GuestCookie.ts"
import * as RequestInfo from "./RequestInfo.ts"

export interface Options {
  /** Networks (CIDR, e.g. `10.0.0.0/8`, `::1/128`) whose `X-Forwarded-*` headers are believed. */
  readonly trustedProxies?: ReadonlyArray<string> | undefined
}

/** Parses CIDR strings; a bad entry is a defect at start-up, not a silently ignored proxy. */
export const parseNetworks = (cidrs: ReadonlyArray<string>): ReadonlyArray<IpNetwork.IpNetwork> =>
  cidrs.map((cidr) => {
    const parsed = IpNetwork.fromString(cidr.includes("/") ? cidr : `${cidr}/${cidr.includes(":") ? 128 : 32}`)
    if (Result.isFailure(parsed)) throw new Error(`Invalid trusted proxy network: ${cidr}`)
    return parsed.success
  })

export const layer = (options: Options = {}) =>
  HttpRouter.middleware(
    Effect.gen(function*() {
      const policy = yield* ServerAuthPolicy.ServerAuthPolicy
      const networks = parseNetworks(options.trustedProxies ?? [])
      const proxies = networks.length > 0 ? HttpMiddleware.xForwardedHeaders({ trustedProxies: networks }) : undefined
      return (httpApp) => {
        const forwarded = proxies === undefined ? httpApp : proxies(httpApp)
        // The guard runs before the forwarded headers are applied: it checks the raw Host.
        return policy.isLoopback
          ? Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            RequestInfo.isLoopbackHostHeader(request.headers["host"], policy.host)
              ? forwarded
              : Effect.succeed(AuthError.toResponse(AuthError.hostNotAllowed())))
          : forwarded
      }
    }),
    { global: true }
  )

/** The expired cookies for `name` on each path (the response's own cookies are kept, and win). */
const expireOnPaths = (
  cookies: Cookies.Cookies,
  name: string,
  paths: ReadonlyArray<string>,
  attributes: ServerAuthPolicy.CookieAttributes
): Cookies.Cookies => {
  const expired: Record<string, Cookies.Cookie> = {}
  for (const path of paths) {
    // A new session cookie set by this very response (a bootstrap) lives on `/`: keep it.
    if (path === "/" && cookies.cookies[name] !== undefined) continue
    const cookie = Cookies.makeCookie(name, "", {
      path,
      maxAge: 0,
      expires: new Date(0),
      httpOnly: attributes.httpOnly,
      secure: attributes.secure,
      sameSite: attributes.sameSite
    })
    // Keyed by name and path: one `Set-Cookie` each (the record's keys are not sent, its cookies are).
    if (Result.isSuccess(cookie)) expired[`${name} ${path}`] = cookie.success
  }
  return Cookies.fromReadonlyRecord({ ...expired, ...cookies.cookies })
}

export const clearAmbiguousCookies = HttpRouter.middleware(
  Effect.gen(function*() {
    const policy = yield* ServerAuthPolicy.ServerAuthPolicy
    return (httpApp) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const https = RequestInfo.isHttps(request)
        const header = request.headers["cookie"]
        // The session cookie and the guest cookie: either can be tossed, and either is then unusable.
        const ambiguous = [policy.sessionCookie(https), policy.cookie(GuestCookie.prefix, https)].filter((attributes) =>
          RequestInfo.cookieOccurrences(header, attributes.name) >= 2
        )
        if (ambiguous.length === 0) return httpApp
        return Effect.map(httpApp, (response) =>
          HttpServerResponse.updateCookies(response, (cookies) =>
            ambiguous.reduce((current, attributes) =>
              // `__Host-` cookies exist only on `/` (and only over HTTPS, where tossing cannot set them).
              expireOnPaths(
                current,
                attributes.name,
                attributes.name.startsWith("__Host-") ? ["/"] : RequestInfo.cookiePathsFor(request.url),
                attributes
              ), cookies)))
      })
  }),
  { global: true }
)
