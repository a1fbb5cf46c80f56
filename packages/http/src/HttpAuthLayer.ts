/**
 * The one way to put `@gatehouse-auth/http` around an application: `layer(options)(AppRoutes)` serves
 * the application's route layers together with
 *
 * - the services, provided OUTSIDE `HttpRouter.serve` so every route shares them (one rate limiter,
 *   one socket registry) and the caller can read them: `HttpAuth` (route guards),
 *   `WebSocketGuard`, the `RateLimiter`, `HttpAuthSettings`, and `McpGuard` with `mcp`;
 * - the global guards (trusted proxies, the Host check) of `AuthMiddleware.layer`;
 * - the `/api/auth/*` routes, and with `mcp` the MCP routes; the local-proof routes
 *   (`LocalProofRoutes`) exactly when a core `LocalProof` service is provided (none is required);
 * - the JSON 404 for a path no route matches (`WireErrors.routeNotFound`, global middleware, so
 *   no route claims a path the application might serve, `/` or an SPA's `/*` included);
 * - with `denyByDefault`, the application's routes registered through `RouteAccess`: a handler
 *   that is neither guarded nor `HttpAuth.public` requires a session;
 * - with `mcp`, `McpSessionLink`: revoking a session ends the MCP credentials it asked for.
 *
 * It needs the core (`ServerAuth`, `ServerAuthPolicy`, `SessionCredentialService`,
 * `BootstrapCredentialService`; with `mcp`, `McpSessionRegistry` too) and an `HttpServer`.
 *
 *   AppRoutes.pipe(HttpAuthLayer.layer(options), Layer.provide(Core), Layer.provide(NodeHttpServer.layer(...)))
 */
import { McpSessionLink } from "@gatehouse-auth/core"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import * as AuthMiddleware from "./AuthMiddleware.ts"
import * as AuthRoutes from "./AuthRoutes.ts"
import * as GuestRoutes from "./GuestRoutes.ts"
import * as HttpAuth from "./HttpAuth.ts"
import * as HttpAuthSettings from "./HttpAuthSettings.ts"
import * as LocalProofRoutes from "./LocalProofRoutes.ts"
import * as McpGuard from "./McpGuard.ts"
import * as McpRoutes from "./McpRoutes.ts"
import * as RateLimiter from "./RateLimiter.ts"
import * as RouteAccess from "./RouteAccess.ts"
import * as WebSocketGuard from "./WebSocketGuard.ts"
import * as WireErrors from "./WireErrors.ts"

export interface Options
  extends HttpAuthSettings.Options, AuthMiddleware.Options, WebSocketGuard.Options, RouteAccess.Options
{
  readonly rateLimit?: RateLimiter.Options | undefined
  /**
   * The MCP endpoints: `McpGuard` (for the application's MCP routes), `POST /api/auth/mcp-credentials`
   * and the RFC 9728 metadata. `true`, or the guard's options. They need core's
   * `McpSessionRegistry`; without `mcp` nothing of MCP is built, nor required.
   */
  readonly mcp?: true | McpGuard.Options | undefined
  /**
   * The guest routes (`POST /api/auth/guest-session` and `/revoke`, see `GuestRoutes`). They need
   * core's `GuestSessionService`; without `guests` no guest route exists (a JSON 404). Whenever a
   * `GuestSessionService` is provided, a browser that pairs with a guest cookie promotes its guest.
   */
  readonly guests?: boolean | undefined
  /**
   * `HttpRouter.serve`'s request logger; off unless `false`, because it prints URLs and a WebSocket
   * ticket rides in the query string.
   */
  readonly disableLogger?: boolean | undefined
  /** `HttpRouter.serve`'s "Listening on" line (default: printed). */
  readonly disableListenLog?: boolean | undefined
}

/** The services alone, for code that serves no HTTP through `layer` (a test of a guard, say). */
export const services = (options: Options) =>
  WebSocketGuard.layer(options).pipe(
    Layer.provideMerge(HttpAuth.layer),
    Layer.provideMerge(Layer.mergeAll(HttpAuthSettings.layer(options), RateLimiter.layer(options.rateLimit)))
  )

/** The application's routes, through `RouteAccess` with `denyByDefault`. */
const applicationRoutes = <A, E, R>(
  options: Options,
  routes: Layer.Layer<A, E, R>
): Layer.Layer<A, E, R | HttpAuth.HttpAuth | HttpRouter.HttpRouter> =>
  options.denyByDefault === true
    ? RouteAccess.denyByDefault(
      routes,
      Effect.map(Effect.service(HttpAuth.HttpAuth), (auth) => auth.requireSession),
      options.publicRoutes ?? []
    )
    : routes

const compose = <A, E, R, G, GE, GR, O, OE, OR>(
  options: Options,
  routes: Layer.Layer<A, E, R>,
  guards: Layer.Layer<G, GE, GR>,
  ownRoutes: Layer.Layer<O, OE, OR>
) =>
  HttpRouter.serve(
    // Registered innermost first: the application's routes, then Gatehouse's own (the router keeps
    // the first handler of a path). A path no route matches is the JSON 404 of `routeNotFound`.
    Layer.mergeAll(
      AuthRoutes.layer,
      LocalProofRoutes.layer,
      ownRoutes,
      AuthMiddleware.layer(options),
      AuthMiddleware.clearAmbiguousCookies,
      WireErrors.routeNotFound
    ).pipe(
      Layer.provideMerge(applicationRoutes(options, routes))
    ),
    { disableLogger: options.disableLogger ?? true, disableListenLog: options.disableListenLog ?? false }
  ).pipe(Layer.provideMerge(guards), Layer.provideMerge(services(options)))

const withoutMcp = <A, E, R, G, GE, GR>(
  options: Options,
  routes: Layer.Layer<A, E, R>,
  guestRoutes: Layer.Layer<G, GE, GR>
) => compose(options, routes, Layer.empty, guestRoutes)

// The route records the calling session on each credential; the link makes revoking that session
// end it (at once here, within `livenessInterval` when revoked elsewhere), like a socket's.
const withMcp = <A, E, R, G, GE, GR>(
  options: Options & { readonly mcp: true | McpGuard.Options },
  routes: Layer.Layer<A, E, R>,
  guestRoutes: Layer.Layer<G, GE, GR>
) =>
  compose(
    options,
    routes,
    Layer.merge(
      McpGuard.layer(options.mcp === true ? {} : options.mcp),
      McpSessionLink.layer({ livenessInterval: options.livenessInterval })
    ),
    Layer.merge(McpRoutes.layer, guestRoutes)
  )

type GuestRoutesLayer = typeof GuestRoutes.layer
type Guests = Layer.Success<GuestRoutesLayer>
type GuestsError = Layer.Error<GuestRoutesLayer>
type GuestsNeed = Layer.Services<GuestRoutesLayer>

type McpOn = { readonly mcp: true | McpGuard.Options }
type McpOff = { readonly mcp?: undefined }
type GuestsOff = { readonly guests?: false | undefined }

/**
 * The application's routes served with everything of `@gatehouse-auth/http` (see the module's
 * comment). With `mcp` the layer needs `McpSessionRegistry`; with `guests` (anything but
 * `false`/absent, as far as the type can tell) it needs `GuestSessionService`.
 */
export const layer: {
  (options: Options & McpOn & GuestsOff): <A, E, R>(
    routes: Layer.Layer<A, E, R>
  ) => ReturnType<typeof withMcp<A, E, R, never, never, never>>
  (options: Options & McpOn): <A, E, R>(
    routes: Layer.Layer<A, E, R>
  ) => ReturnType<typeof withMcp<A, E, R, Guests, GuestsError, GuestsNeed>>
  (options: Options & McpOff & GuestsOff): <A, E, R>(
    routes: Layer.Layer<A, E, R>
  ) => ReturnType<typeof withoutMcp<A, E, R, never, never, never>>
  (options: Options & McpOff): <A, E, R>(
    routes: Layer.Layer<A, E, R>
  ) => ReturnType<typeof withoutMcp<A, E, R, Guests, GuestsError, GuestsNeed>>
} = (options: Options) => (routes: Layer.Layer<any, any, any>): Layer.Layer<any, any, any> => {
  const guestRoutes = (options.guests === true ? GuestRoutes.layer : Layer.empty) as unknown as Layer.Layer<
    any,
    any,
    any
  >
  return options.mcp === undefined
    ? withoutMcp(options, routes, guestRoutes)
    : withMcp({ ...options, mcp: options.mcp }, routes, guestRoutes)
}
