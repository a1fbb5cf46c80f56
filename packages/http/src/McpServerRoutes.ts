/**
 * A real MCP endpoint behind `McpGuard`: `effect/ai`'s `McpServer` over Streamable HTTP, every
 * method of its path (`POST`, `GET`, `DELETE`, ...) wrapped in `McpGuard.serve`.
 *
 * `layer({ name, version, registrations })` registers the MCP server at the registry's endpoint
 * path (`/mcp` by default) in the surrounding router. Each request is checked by the guard first:
 * the loopback Host check (global), the Origin check, the `Authorization: Bearer` credential (401
 * with `WWW-Authenticate: Bearer resource_metadata="..."` otherwise). The principal is provided
 * as `McpGuard.CurrentMcpPrincipal` to the request, and so to every tool handler: a tool declares
 * it with `dependencies: [McpGuard.CurrentMcpPrincipal]` and reads it like any service.
 *
 * Sessions of the stateful MCP revisions (`Mcp-Session-Id`) are bound to the thread that opened
 * them: another thread's credential presenting that id is answered 404 (an unknown session), so
 * one agent cannot ride on another's session. The Origin is checked once, by the guard (which
 * knows the server's own origin); the MCP server behind it sees no `Origin` header.
 */
import { McpSessionRegistry } from "@gatehouse-auth/core"
import type { Cause } from "effect"
import { ByteSize, Effect, Layer } from "effect"
import { McpProtocol, McpServer } from "effect/ai"
import {
  Headers,
  HttpEffect,
  HttpIncomingMessage,
  HttpRouter,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import * as AuthError from "./AuthError.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import { CurrentMcpPrincipal, McpGuard } from "./McpGuard.ts"
import { normalize } from "./RouteAccess.ts"

type Handler = Effect.Effect<HttpServerResponse.HttpServerResponse, any, any>

/** The MCP revisions served by default: the sessionless 2026-07-28 first, then the sessionful ones. */
export const defaultProtocols = [
  McpProtocol.v2026_07_28,
  McpProtocol.v2025_11_25,
  McpProtocol.v2025_06_18,
  McpProtocol.v2025_03_26
] as const

export interface Options<RA, RE, RR> {
  /** Shown to clients in `initialize` / discovery (`serverInfo.name`). */
  readonly name: string
  readonly version: string
  readonly instructions?: string | undefined
  /** The tools, resources and prompts: `McpServer.toolkit(...)` and friends, merged. */
  readonly registrations: Layer.Layer<RA, RE, RR>
  /** Default: the path of `McpSessionRegistry.endpoint` (what credentials are minted for). */
  readonly path?: `/${string}` | undefined
  /** Largest JSON-RPC body accepted (default: `HttpAuthSettings.maxBodyBytes`, 64 KiB); larger is 413. */
  readonly maxBodyBytes?: number | undefined
  /** Open MCP sessions remembered with their thread (default 10 000; the oldest is forgotten first). */
  readonly maxSessions?: number | undefined
}

const sessionHeader = "mcp-session-id"

/** Which thread opened each MCP session; bounded, oldest first out. */
const makeSessionOwners = (max: number) => {
  const owners = new Map<string, string>()
  return {
    owner: (id: string) => owners.get(id),
    bind: (id: string, threadId: string) => {
      if (owners.has(id)) return
      if (owners.size >= max) owners.delete(owners.keys().next().value!)
      owners.set(id, threadId)
    },
    forget: (id: string) => owners.delete(id)
  }
}

/**
 * A router that registers into `router` with every handler behind `guard.serve`, the request's
 * Origin removed once the guard accepted it, and MCP sessions bound to their thread.
 */
const guardedRouter = (
  router: HttpRouter.HttpRouter,
  guard: McpGuard["Service"],
  sessions: ReturnType<typeof makeSessionOwners>,
  limits: { readonly maxBytes: number; readonly maxDepth: number }
): HttpRouter.HttpRouter => {
  const wrap = (method: string, handler: Handler): Handler =>
    guard.serve(Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { threadId } = yield* CurrentMcpPrincipal
      const presented = request.headers[sessionHeader]
      if (presented !== undefined) {
        const owner = sessions.owner(presented)
        if (owner !== undefined && owner !== threadId) return HttpServerResponse.empty({ status: 404 })
      }
      const inner = request.modify({ headers: Headers.remove(request.headers, "origin") })
      if (method === "POST") {
        // The body limits of every JSON route, checked before the MCP server parses anything. The
        // text is read once, here, and kept by `inner` for the MCP server to read again.
        if (Number(inner.headers["content-length"] ?? "0") > limits.maxBytes) return yield* AuthError.payloadTooLarge()
        const text = yield* inner.text.pipe(
          Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limits.maxBytes)),
          Effect.mapError((error) =>
            error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
              ? AuthError.payloadTooLarge()
              : AuthError.invalidRequest("The request body could not be read")
          )
        )
        if (JsonBody.depthExceeds(text, limits.maxDepth)) {
          return yield* AuthError.invalidRequest(`The request body nests deeper than ${limits.maxDepth} levels`)
        }
      }
      const response: HttpServerResponse.HttpServerResponse = yield* Effect.provideService(
        handler,
        HttpServerRequest.HttpServerRequest,
        inner
      )
      // The MCP server sets its session header in a pre-response handler: read the final response.
      yield* HttpEffect.appendPreResponseHandler((_, final) =>
        Effect.sync(() => {
          const opened = final.headers[sessionHeader]
          if (opened !== undefined && final.status < 300) sessions.bind(opened, threadId)
          if (method === "DELETE" && presented !== undefined && final.status === 204) sessions.forget(presented)
          return final
        })
      )
      return response
    }))
  return {
    ...router,
    prefixed: () => {
      throw new Error("McpServerRoutes: prefixed routers are not supported")
    },
    add: (method, path, handler, options) =>
      router.add(method, path, wrap(method, normalize(handler as never)), options) as never,
    addAll: (routes) =>
      router.addAll(routes.map((route) => ({ ...route, handler: wrap(route.method, route.handler) }))) as never
  }
}

/**
 * The MCP server of `registrations` at `path`, behind `McpGuard`. Needs `McpGuard` and
 * `McpSessionRegistry` (both there with `HttpAuthLayer.layer({ mcp: true })`) and the router.
 * `CurrentMcpPrincipal`, which tool handlers may require, is provided by the guard.
 */
export const layer = <RA, RE, RR>(
  options: Options<RA, RE, RR>
): Layer.Layer<
  never,
  RE | Cause.IllegalArgumentError,
  | McpGuard
  | McpSessionRegistry.McpSessionRegistry
  | HttpAuthSettings
  | HttpRouter.HttpRouter
  | Exclude<
    Exclude<RR, McpServer.McpServer | McpServer.McpRequest<any, any>>,
    CurrentMcpPrincipal
  >
> =>
  Layer.unwrap(Effect.gen(function*() {
    const guard = yield* McpGuard
    const registry = yield* McpSessionRegistry.McpSessionRegistry
    const settings = yield* HttpAuthSettings
    const path = options.path ?? (new URL(registry.endpoint).pathname as `/${string}`)
    const sessions = makeSessionOwners(options.maxSessions ?? 10_000)
    const server = McpServer.layerHttp({
      name: options.name,
      version: options.version,
      instructions: options.instructions,
      path,
      protocols: defaultProtocols,
      allowSessionTermination: true,
      registrations: options.registrations as Layer.Layer<unknown, RE, never>
    })
    return server.pipe(
      Layer.provide(Layer.effect(
        HttpRouter.HttpRouter,
        Effect.map(Effect.service(HttpRouter.HttpRouter), (router) =>
          guardedRouter(router, guard, sessions, {
            maxBytes: options.maxBodyBytes ?? settings.maxBodyBytes,
            maxDepth: settings.maxJsonDepth
          }))
      ))
    )
  })) as never
