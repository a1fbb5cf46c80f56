/**
 * A real Gatehouse HTTP server on 127.0.0.1 for tests, with memory stores. Tests talk to it with the
 * raw HTTP client of `@gatehouse-auth/testing/support`.
 */
import { NodeHttpServer } from "@effect/platform-node"
import {
  AccessTokens,
  BootstrapCredentialService,
  DpopReplayStore,
  DpopVerifier,
  GuestPromotion,
  GuestSessionService,
  GuestStore,
  McpSessionRegistry,
  ServerAuth,
  ServerAuthPolicy,
  ServerSecretStore,
  SessionCredentialService,
  SessionStore,
  SigningKeyring
} from "@gatehouse-auth/core"
import { freePort } from "@gatehouse-auth/testing/support"
import { Context, Effect, Layer, Redacted } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"
import * as Http from "node:http"
import * as Https from "node:https"
import { HttpAuth, HttpAuthLayer, McpGuard, WebSocketGuard, WireErrors } from "../src/index.ts"

export const applicationScopes = ["read:hello", "write:hello"]

/** The application's routes used by the tests: `/api/hello`, a `/ws` echo and a `/mcp` echo. */
const HelloRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  const guard = yield* WebSocketGuard.WebSocketGuard
  const mcp = yield* McpGuard.McpGuard
  yield* router.add(
    "POST",
    "/mcp",
    mcp.serve(
      Effect.map(
        Effect.service(McpGuard.CurrentMcpPrincipal),
        ({ threadId }) => HttpServerResponse.jsonUnsafe({ threadId })
      )
    )
  )
  yield* router.add(
    "GET",
    "/api/hello",
    auth.requireScopes(["read:hello"])(
      Effect.map(
        Effect.service(HttpAuth.CurrentSession),
        ({ session }) => HttpServerResponse.jsonUnsafe({ hello: session.subject })
      )
    )
  )
  yield* router.add(
    "GET",
    "/ws",
    guard.serve(["read:hello"], (socket) =>
      Effect.scoped(Effect.gen(function*() {
        const writer = yield* socket.writer
        const read = yield* Socket.readerString(socket)
        while (true) {
          const frames = yield* read
          for (const frame of frames) yield* writer.write(frame)
        }
      })))
  )
}))

export interface ServerOptions {
  readonly policy?: ServerAuthPolicy.Policy | undefined
  readonly tls?: { readonly key: string; readonly cert: string } | undefined
  readonly trustedProxies?: ReadonlyArray<string> | undefined
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  readonly rateLimit?: { readonly capacity?: number } | undefined
  readonly denyByDefault?: boolean | undefined
  readonly publicRoutes?: HttpAuthLayer.Options["publicRoutes"]
  /** The guest routes (the `GuestSessionService` is always there: pairing promotes a guest). */
  readonly guests?: boolean | undefined
  /** The application's promotion hook. */
  readonly promotion?: GuestPromotion.GuestPromotionShape | undefined
  /** More application routes, served beside the hello routes. */
  readonly routes?: Layer.Layer<never, never, HttpRouter.HttpRouter | HttpAuth.HttpAuth> | undefined
  /** A `DpopVerifier` with these options (over `dpopReplayStore`, default the memory one). */
  readonly dpop?: DpopVerifier.Options | undefined
  readonly dpopReplayStore?: Layer.Layer<DpopReplayStore.DpopReplayStore> | undefined
  /** `AccessTokens` (so `POST /api/auth/tokens` exists), issued by this server's origin. */
  readonly accessTokens?: boolean | undefined
  /** Another server's keyring and session store: two instances of one deployment. */
  readonly shared?: {
    readonly keyring: SigningKeyring.SigningKeyringShape
    readonly sessionStore: SessionStore.SessionStoreShape
  } | undefined
  readonly publicOrigin?: string | undefined
}

export const startServer = (options: ServerOptions = {}) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const dpop = options.dpop === undefined
      ? Layer.empty
      : DpopVerifier.layer(options.dpop).pipe(Layer.provide(options.dpopReplayStore ?? DpopReplayStore.layerMemory))
    const tokens = options.accessTokens === true
      ? AccessTokens.layer({ issuer: `http://127.0.0.1:${port}` })
      : Layer.empty
    const sessionStore = options.shared === undefined
      ? SessionStore.layerMemory
      : Layer.succeed(SessionStore.SessionStore, options.shared.sessionStore)
    const keyring = options.shared === undefined
      ? SigningKeyring.layer()
      : Layer.succeed(SigningKeyring.SigningKeyring, options.shared.keyring)
    const core = ServerAuth.layer({ applicationScopes }).pipe(
      Layer.provideMerge(tokens),
      Layer.provideMerge(BootstrapCredentialService.layerMemory.pipe(
        Layer.provideMerge(SessionCredentialService.layer().pipe(Layer.provideMerge(sessionStore)))
      )),
      Layer.provideMerge(dpop),
      Layer.provideMerge(
        GuestSessionService.layer().pipe(
          Layer.provideMerge(GuestStore.layerMemory()),
          Layer.provide(
            options.promotion === undefined
              ? Layer.empty
              : Layer.succeed(GuestPromotion.GuestPromotion, options.promotion)
          )
        )
      ),
      Layer.provideMerge(keyring),
      Layer.provideMerge(ServerSecretStore.layerMemory()),
      Layer.provideMerge(ServerAuthPolicy.layer({ host: "127.0.0.1", port, policy: options.policy }))
    )
    const settings = {
      applicationScopes,
      allowedOrigins: options.allowedOrigins,
      trustedProxies: options.trustedProxies,
      rateLimit: options.rateLimit,
      denyByDefault: options.denyByDefault,
      publicRoutes: options.publicRoutes,
      publicOrigin: options.publicOrigin
    }
    const listener = options.tls === undefined
      ? NodeHttpServer.layer(() => WireErrors.installClientErrorHandler(Http.createServer()), {
        port,
        host: "127.0.0.1"
      })
      : NodeHttpServer.layer(() => WireErrors.installClientErrorHandler(Https.createServer(options.tls!)), {
        port,
        host: "127.0.0.1"
      })
    const server = Layer.merge(HelloRoutes, options.routes ?? Layer.empty).pipe(
      HttpAuthLayer.layer({ ...settings, mcp: true, guests: options.guests ?? false, disableListenLog: true }),
      Layer.provideMerge(core),
      Layer.provideMerge(McpSessionRegistry.layer({ endpoint: { host: "127.0.0.1", port } })),
      Layer.provide(listener)
    )
    const context = yield* Layer.build(server)
    return {
      port,
      origin: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
      grants: Context.get(context, BootstrapCredentialService.BootstrapCredentialService),
      sessions: Context.get(context, SessionCredentialService.SessionCredentialService),
      sessionStore: Context.get(context, SessionStore.SessionStore),
      guests: Context.get(context, GuestSessionService.GuestSessionService),
      guestStore: Context.get(context, GuestStore.GuestStore),
      keyring: Context.get(context, SigningKeyring.SigningKeyring),
      serverAuth: Context.get(context, ServerAuth.ServerAuth),
      guard: Context.get(context, WebSocketGuard.WebSocketGuard),
      mcp: Context.get(context, McpSessionRegistry.McpSessionRegistry),
      accessTokens: Context.getOption(context, AccessTokens.AccessTokens)
    }
  })

export type TestServer = Effect.Success<ReturnType<typeof startServer>>

/** An administrative session made directly through the core, as a bearer token and a cookie. */
export const adminSession = (
  server: TestServer,
  scopes: ReadonlyArray<string> = [...applicationScopes, "read:access", "write:access"]
) =>
  Effect.map(server.sessions.issue({ subject: "owner", scopes, method: "pairing" }), ({ session, token }) => ({
    session,
    token: Redacted.value(token),
    cookie: `gatehouse_session_${server.port}=${Redacted.value(token)}`
  }))
