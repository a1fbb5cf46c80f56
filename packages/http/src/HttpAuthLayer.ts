/**
 * Everything an application needs from `@gatehouse/http`, in two layers:
 *
 * - `services(options)`: `HttpAuth` (route guards), `WebSocketGuard`, the rate limiter and the
 *   settings. Provide it OUTSIDE `HttpRouter.serve` so the auth routes and the application's own
 *   routes share one rate limiter and one socket registry.
 * - `routes(options)`: the `/api/auth/*` routes plus the global guards (trusted proxies, Host).
 *
 * Both need the core: `ServerAuth`, `ServerAuthPolicy`, `SessionCredentialService`,
 * `BootstrapCredentialService`.
 *
 *   HttpRouter.serve(Layer.mergeAll(HttpAuthLayer.routes(options), MyRoutes)).pipe(Layer.provide(HttpAuthLayer.services(options)), Layer.provide(Core), Layer.provide(NodeHttpServer.layer(...)))
 */
import { Layer } from "effect"
import * as AuthMiddleware from "./AuthMiddleware.ts"
import * as AuthRoutes from "./AuthRoutes.ts"
import * as HttpAuth from "./HttpAuth.ts"
import * as HttpAuthSettings from "./HttpAuthSettings.ts"
import * as RateLimiter from "./RateLimiter.ts"
import * as WebSocketGuard from "./WebSocketGuard.ts"

export interface Options extends HttpAuthSettings.Options, AuthMiddleware.Options, WebSocketGuard.Options {
  readonly rateLimit?: RateLimiter.Options | undefined
}

export const services = (options: Options) =>
  WebSocketGuard.layer(options).pipe(
    Layer.provideMerge(HttpAuth.layer),
    Layer.provideMerge(Layer.mergeAll(HttpAuthSettings.layer(options), RateLimiter.layer(options.rateLimit)))
  )

/** The auth routes and the global guards. (For a JSON 404, add `AuthMiddleware.notFound` after your routes.) */
export const routes = (options: AuthMiddleware.Options = {}) =>
  Layer.mergeAll(AuthRoutes.layer, AuthMiddleware.layer(options))
