/**
 * Request-wide guards:
 *
 * - `layer`: global router middleware. On a loopback policy it first refuses any raw `Host` but
 *   `localhost`, `127.0.0.1`, `[::1]` or the loopback address it is bound to (with or without a
 *   port): the DNS-rebinding guard, which looks at the Host the client sent, never at an
 *   `X-Forwarded-Host`. Then it applies
 *   `X-Forwarded-*` only from configured trusted proxies (so the client address used for rate
 *   limits and the scheme used for cookies cannot be spoofed).
 */
import { ServerAuthPolicy } from "@gatehouse-auth/core"
import { Effect, Result } from "effect"
import { HttpMiddleware, HttpRouter, HttpServerRequest } from "effect/http"
import { IpNetwork } from "effect/net"
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
