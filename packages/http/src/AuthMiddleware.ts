/**
 * Request-wide guards:
 *
 * - `layer`: global router middleware. Applies `X-Forwarded-*` only from configured trusted proxies
 *   (so the client address used for rate limits and the scheme used for cookies cannot be spoofed),
 *   then, on a loopback policy, refuses any Host but `localhost`, `127.0.0.1` or `[::1]` (with or
 *   without a port): the DNS-rebinding guard.
 * - `errorResponses`: for `HttpRouter.serve({ middleware })`. Whatever escapes the routes (no such
 *   route, an unreadable request, a defect) is answered in the contract's error shape; a 500 names
 *   nothing.
 */
import { Cause, Effect, Option, Result } from "effect"
import { HttpMiddleware, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { IpNetwork } from "effect/net"
import { ServerAuthPolicy } from "@gatehouse/core"
import * as AuthError from "./AuthError.ts"
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
        const guarded = policy.isLoopback
          ? Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            RequestInfo.isLoopbackHostHeader(request.headers["host"])
              ? httpApp
              : Effect.succeed(AuthError.toResponse(AuthError.hostNotAllowed())))
          : httpApp
        return proxies === undefined ? guarded : proxies(guarded)
      }
    }),
    { global: true }
  )

/** Renders whatever escaped the routes in the contract's error shape. */
export const errorResponses = <E, R>(
  httpApp: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catchCause(httpApp, (cause) => {
    const error = Option.getOrUndefined(Cause.findErrorOption(cause)) as
      | { readonly _tag?: string; readonly reason?: { readonly _tag?: string; readonly reason?: string } }
      | undefined
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
    if (error?._tag === "HttpServerError") {
      switch (error.reason?._tag) {
        case "RouteNotFound":
          return Effect.succeed(AuthError.toResponse(AuthError.notFound()))
        case "RequestParseError":
          return Effect.succeed(AuthError.toResponse(
            error.reason.reason === "BodyTooLarge"
              ? AuthError.payloadTooLarge()
              : AuthError.invalidRequest("The request could not be read")
          ))
      }
    }
    return Effect.as(Effect.logError("Unhandled request failure", cause), AuthError.toResponse(AuthError.internalError()))
  })
