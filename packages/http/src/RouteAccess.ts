/**
 * Deny by default. Every handler an application registers must say who may reach it, or it
 * requires a session:
 *
 * - handlers built by a Gatehouse guard (`HttpAuth.requireScopes` / `requireSession`,
 *   `WebSocketGuard.serve`, `McpGuard.serve`) are left as they are, since they decide already;
 * - handlers wrapped in `HttpAuth.public(...)`, and routes named in `publicRoutes`, are public;
 * - any other handler is wrapped in `requireSession`: without a valid session it answers 401.
 *
 * The decision is made once, when a route is registered, on the handler itself (not on the
 * request path at request time): a guarded WebSocket route keeps its one-use ticket, an MCP route
 * its own credential, and an unknown path still answers the 404. It covers the routes given to
 * `HttpAuthLayer.layer`; Gatehouse's own `/api/auth/*` routes check what each one needs.
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, type HttpServerResponse } from "effect/http"

type Handler = Effect.Effect<HttpServerResponse.HttpServerResponse, any, any>

// The handlers whose access is declared. Identity, not a property on the Effect: nothing a
// handler's author writes can forge it, and it costs nothing per request.
const declared = new WeakSet<object>()

/** Marks a handler as having declared who may reach it (a guard's output, or `public`). */
export const declare = <A extends Handler>(handler: A): A => {
  declared.add(handler)
  return handler
}

/** Whether `declare` marked this handler. */
export const isDeclared = (handler: unknown): boolean =>
  typeof handler === "object" && handler !== null && declared.has(handler)

/** A route named as public in `publicRoutes`: `"GET /favicon.ico"`, or `"* /assets/*"` for every method. */
export type PublicRoute = `${"*" | "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "QUERY"} /${string}`

export interface Options {
  /**
   * Every application route not declared public requires a session (see the module's comment).
   * The reference server turns it on.
   */
  readonly denyByDefault?: boolean | undefined
  /**
   * Routes that are public although their handlers come from code you cannot wrap in
   * `HttpAuth.public` (a static file server, say): method and path exactly as registered.
   */
  readonly publicRoutes?: ReadonlyArray<PublicRoute> | undefined
}

/** A route's handler as `router.add` takes it (a response, an effect, a function of the request), as an effect. */
export const normalize = (
  handler:
    | HttpServerResponse.HttpServerResponse
    | Handler
    | ((request: HttpServerRequest.HttpServerRequest) => Handler)
): Handler =>
  Effect.isEffect(handler)
    ? handler
    : typeof handler === "function"
    ? Effect.flatMap(HttpServerRequest.HttpServerRequest, handler)
    : Effect.succeed(handler)

const joinPath = (prefix: string, path: string) => prefix === "" ? path : path === "/" ? prefix : `${prefix}${path}`

/**
 * A router that registers into `router`, wrapping each undeclared handler with `guard`. Only the
 * application's route layers see it; everything else registers into the real router.
 */
export const guardedRouter = (
  router: HttpRouter.HttpRouter,
  guard: (handler: Handler) => Handler,
  publicRoutes: ReadonlyArray<PublicRoute>,
  prefix = ""
): HttpRouter.HttpRouter => {
  const open = new Set<string>(publicRoutes)
  const decide = (method: string, path: string, handler: Handler): Handler => {
    const full = joinPath(prefix, path)
    return isDeclared(handler) || open.has(`${method} ${full}`) || open.has(`* ${full}`) ? handler : guard(handler)
  }
  return {
    ...router,
    prefixed: (more) => guardedRouter(router.prefixed(more), guard, publicRoutes, joinPath(prefix, more)),
    add: (method, path, handler, options) =>
      router.add(method, path, decide(method, path, normalize(handler as never)), options) as never,
    addAll: (routes) =>
      router.addAll(
        routes.map((route) => ({
          ...route,
          // A route's path already carries its own prefix (`HttpRouter.prefixRoute`).
          handler: decide(route.method, route.path, route.handler)
        }))
      ) as never
  }
}

/**
 * `routes` registered through `guardedRouter`, wrapping with `guard`: the layer needs the real
 * `HttpRouter` (from `HttpRouter.serve`) and whatever `guard` is built from.
 */
export const denyByDefault = <A, E, R, GE, GR>(
  routes: Layer.Layer<A, E, R>,
  makeGuard: Effect.Effect<(handler: Handler) => Handler, GE, GR>,
  publicRoutes: ReadonlyArray<PublicRoute>
) =>
  routes.pipe(
    Layer.provide(Layer.effect(
      HttpRouter.HttpRouter,
      Effect.gen(function*() {
        const router = yield* HttpRouter.HttpRouter
        const guard = yield* makeGuard
        return guardedRouter(router, guard, publicRoutes)
      })
    ))
  )
