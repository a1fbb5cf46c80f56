/**
 * Gatehouse around an application, as one Layer: `serve(options)(AppRoutes)` serves the
 * application's routes with the core services over the stores of `Stores.ts` (SQLite in the state
 * directory, or PostgreSQL), everything of `@gatehouse-auth/http` (deny by default on), the `/pair`
 * page and the MCP credential routes, on a Node HTTP server. `layer(options)` is the reference
 * server: `serve` around the hello application and the MCP echo, with `/` redirecting to `/pair`.
 *
 * The policy (and so the cookie name, `gatehouse_session_<port>`, or `__Host-gatehouse_session`
 * over HTTPS) is built from the address the server actually bound, so `port: 0` works. With `tls`
 * it serves HTTPS and WSS itself. Building the layer listens; closing its scope stops
 * accepting, ends open connections (WebSockets included) and releases everything.
 */
import {
  AccessTokens,
  BootstrapCredentialService,
  DpopReplayStore,
  DpopVerifier,
  Durations,
  GuestSessionService,
  McpSessionRegistry,
  OAuthAuthorizationServer,
  OAuthClients,
  ServerAuth,
  ServerAuthPolicy,
  SessionCredentialService
} from "@gatehouse-auth/core"
import { HttpAuthLayer, OAuthClientDocumentFetcher, OAuthRoutes, WebSocketGuard } from "@gatehouse-auth/http"
import { Config, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpServer } from "effect/http"
import * as ConsentPage from "./ConsentPage.ts"
import * as HelloRoutes from "./HelloRoutes.ts"
import * as Listener from "./Listener.ts"
import * as McpEcho from "./McpEcho.ts"
import * as NetworkAddresses from "./NetworkAddresses.ts"
import * as PairPage from "./PairPage.ts"
import * as RunRoutes from "./RunRoutes.ts"
import * as Shutdown from "./Shutdown.ts"
import * as Stores from "./Stores.ts"

export interface Options extends Stores.Options {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** Configured policy; derived from the host (and `desktop`) when absent. */
  readonly policy?: ServerAuthPolicy.Policy | undefined
  /** Launched by a desktop shell with a bootstrap credential: `desktop-managed-local` on loopback. */
  readonly desktop?: boolean | undefined
  readonly allowedOrigins?: ReadonlyArray<string> | undefined
  readonly trustedProxies?: ReadonlyArray<string> | undefined
  /** The origin browsers use (behind a TLS proxy, for example); also the pairing URL's base. */
  readonly publicUrl?: string | undefined
  /** How long shutdown waits for open requests before closing them (default 3 seconds). */
  readonly shutdownTimeout?: Duration.Input | undefined
  /**
   * Open connections at once (default 1024) and from one client address (default 256; IPv6: its
   * /64). A connection beyond either is closed at once; those already open carry on.
   */
  readonly maxConnections?: number | undefined
  readonly maxConnectionsPerAddress?: number | undefined
  /**
   * How long a client may take to send a request's headers (default 10 seconds) and the whole
   * request, body included (default 30 seconds; not less than the headers'); past it, `408` and
   * the connection closes.
   */
  readonly headersTimeout?: Duration.Input | undefined
  readonly requestTimeout?: Duration.Input | undefined
  /** How long an idle keep-alive connection stays open (default 5 seconds). */
  readonly keepAliveTimeout?: Duration.Input | undefined
  /**
   * The limits of every WebSocket (unread output, sockets per session and per address, message
   * rate); see `WebSocketGuard.Limits` in `@gatehouse-auth/http` for the defaults.
   */
  readonly webSocketLimits?: WebSocketGuard.Limits | undefined
  /**
   * Access tokens (`POST /api/auth/tokens`, `/.well-known/jwks.json`, `Authorization: Bearer <jwt>`):
   * the signing algorithm (default `EdDSA`; `HS256` publishes no JWKS), or `false` to turn them off.
   */
  readonly accessTokens?: false | { readonly algorithm?: AccessTokens.Algorithm | undefined } | undefined
  /**
   * What a browser that asked to pair over plain HTTP under a non-loopback name is told to do
   * (`400 insecure_transport`: its Secure cookie would be dropped, so its code is not used).
   * The CLI names its TLS flags; the default of `HttpAuthSettings` otherwise.
   */
  readonly insecureTransportAdvice?: string | undefined
  /**
   * Serve HTTPS and WSS directly with this certificate (PEM; see `TlsCertificate`): the URLs are
   * `https://`, the session cookie `__Host-gatehouse_session`, and the `/pair` page shows the
   * certificate's SHA-256 fingerprint.
   */
  readonly tls?: {
    readonly cert: string
    readonly key: Redacted.Redacted<string>
    readonly fingerprint: string
  } | undefined
  /**
   * Scopes an OAuth access token must hold at `/mcp` (default none): one without them is `403
   * insufficient_scope` naming them.
   */
  readonly mcpRequiredScopes?: ReadonlyArray<string> | undefined
  /**
   * DPoP-bound credentials (RFC 9449; on by default): a bearer bootstrap, an access token or an
   * OAuth token asked for with a `DPoP` proof is bound to the proof's key. The options of
   * `DpopVerifier`; what they leave out is read from `GATEHOUSE_DPOP_NONCES` (`false` turns server
   * nonces off) and `GATEHOUSE_DPOP_NONCE_STEP` (how long a nonce is current, default `5m`).
   * `false` turns DPoP off: proofs are ignored and every credential is a bearer one.
   */
  readonly dpop?: false | DpopVerifier.Options | undefined
  /**
   * The OAuth 2.1 authorization server of `/mcp` (`/oauth/*`, RFC 8414 discovery), for MCP clients
   * the server did not launch (default on; needs access tokens). `false` turns it off: `/mcp` then
   * takes only per-thread credentials and its metadata lists no authorization server.
   */
  readonly oauth?: false | {
    /**
     * Client ID metadata documents (an `https` URL as `client_id`, fetched with the SSRF rules of
     * `OAuthClientDocumentFetcher`); on by default, `false` leaves only dynamic registration. The
     * options `allowPrivateAddresses` and `ca` are for tests.
     */
    readonly clientMetadataDocuments?: false | OAuthClientDocumentFetcher.Options | undefined
  } | undefined
}

/** A listener option (a connection cap, a timeout) that cannot be used. */
export class InvalidListenerOption extends Schema.TaggedError<InvalidListenerOption>()("InvalidListenerOption", {
  message: Schema.String
}) {}

/** A connection cap: a whole number from 1 up; anything else is refused when the layer is built. */
const connectionCap = (option: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value >= 1
    ? Effect.succeed(value)
    : Effect.fail(
      new InvalidListenerOption({ message: `${option} must be a whole number of at least 1 (got ${value})` })
    )

/** The listener's settings from the options, checked (Node itself throws on some of these). */
export const listenerOptions = (options: Options) =>
  Effect.gen(function*() {
    const shutdownMillis = yield* Durations.toMillis("shutdownTimeout", options.shutdownTimeout, Duration.seconds(3))
    const headersTimeoutMillis = yield* Durations.toMillis(
      "headersTimeout",
      options.headersTimeout,
      Duration.millis(Listener.defaults.headersTimeoutMillis)
    )
    const requestTimeoutMillis = yield* Durations.toMillis(
      "requestTimeout",
      options.requestTimeout,
      Duration.millis(Listener.defaults.requestTimeoutMillis)
    )
    const keepAliveTimeoutMillis = yield* Durations.toMillis(
      "keepAliveTimeout",
      options.keepAliveTimeout,
      Duration.millis(Listener.defaults.keepAliveTimeoutMillis)
    )
    // Node refuses a headers timeout longer than the request's, and it would mean nothing.
    if (headersTimeoutMillis > requestTimeoutMillis) {
      return yield* new InvalidListenerOption({ message: "headersTimeout must not be longer than requestTimeout" })
    }
    return {
      host: options.host,
      port: options.port,
      shutdownMillis,
      maxConnections: yield* connectionCap("maxConnections", options.maxConnections, Listener.defaults.maxConnections),
      maxConnectionsPerAddress: yield* connectionCap(
        "maxConnectionsPerAddress",
        options.maxConnectionsPerAddress,
        Listener.defaults.maxConnectionsPerAddress
      ),
      headersTimeoutMillis,
      requestTimeoutMillis,
      keepAliveTimeoutMillis,
      tls: options.tls === undefined ? undefined : { cert: options.tls.cert, key: Redacted.value(options.tls.key) }
    } satisfies Listener.Options
  })

/** What `serve` needs beyond `Options`: the application's side of the contract. */
export interface ServeOptions extends Options {
  /** The application's own scopes: what a pairing grants by default. */
  readonly applicationScopes: ReadonlyArray<string>
  /**
   * Every application route not guarded or declared public requires a session (default `true`;
   * see `RouteAccess` in `@gatehouse-auth/http`).
   */
  readonly denyByDefault?: boolean | undefined
  /** Routes public although their handlers are not wrapped in `HttpAuth.public`. */
  readonly publicRoutes?: HttpAuthLayer.Options["publicRoutes"]
  /** The path of the application's MCP endpoint, which MCP credentials are minted for (default `/mcp`). */
  readonly mcpPath?: `/${string}` | undefined
  /**
   * The guest routes (`POST /api/auth/guest-session`, default `true`). Guests live in the same
   * database as sessions; a `GuestPromotion` provided around this layer merges a guest into the
   * session its browser pairs as. `false` leaves the routes out (a JSON 404).
   */
  readonly guests?: boolean | undefined
}

/** What the running server tells its caller. */
export interface GatehouseServerShape {
  readonly host: string
  readonly port: number
  /**
   * The server's own URL for clients on this machine (`publicUrl`, else `http://<host>:<port>`, a
   * wildcard bind as `127.0.0.1`): `server.json`'s `baseUrl`, the access tokens' issuer.
   */
  readonly baseUrl: string
  /**
   * The base of the pairing URL a device elsewhere can open: `publicUrl`, else the bound address, a
   * wildcard bind as the machine's primary non-loopback address (see `NetworkAddresses`).
   */
  readonly pairingBaseUrl: string
  /** The other URLs the server listens on (a wildcard bind's other addresses, loopback last). */
  readonly otherBaseUrls: ReadonlyArray<string>
  /** No address but loopback was found or bound: a device elsewhere cannot open `pairingBaseUrl` (without `publicUrl`). */
  readonly loopbackOnly: boolean
  /** The SHA-256 fingerprint of the certificate served, when the server serves HTTPS itself. */
  readonly tlsFingerprint: string | undefined
  readonly policy: ServerAuthPolicy.Policy
}

export class GatehouseServer extends Context.Service<GatehouseServer, GatehouseServerShape>()(
  "@gatehouse-auth/server/GatehouseServer"
) {}

/** `0.0.0.0` and `::` accept everything; a URL for them names this machine's loopback address. */
export const urlHost = (host: string): string => {
  const name = host === "0.0.0.0" || host === "" ? "127.0.0.1" : host === "::" ? "::1" : host
  return name.includes(":") && !name.startsWith("[") ? `[${name}]` : name
}

export const baseUrl = (options: Pick<Options, "host" | "publicUrl" | "tls">, port: number): string =>
  options.publicUrl !== undefined
    ? options.publicUrl.replace(/\/+$/, "")
    : `${scheme(options)}://${urlHost(options.host)}:${port}`

const scheme = (options: Pick<Options, "tls">) => options.tls === undefined ? "http" : "https"

/** The application's routes with Gatehouse around them (see the module's comment). */
export const serve = (options: ServeOptions) => <A, E, R>(routes: Layer.Layer<A, E, R>) => {
  const listener = Layer.unwrap(Effect.map(listenerOptions(options), Listener.layer))

  const boundPort = Effect.map(
    Effect.service(HttpServer.HttpServer),
    (server) => server.address._tag === "UnixPathAddress" ? options.port : server.address.port
  )

  const policy = Layer.unwrap(Effect.map(boundPort, (port) =>
    ServerAuthPolicy.layer({
      host: options.host,
      port,
      policy: options.policy,
      mode: options.desktop ? "desktop" : "server"
    })))

  // Agents reach `/mcp` at the address the server bound; a wildcard bind is advertised as
  // 127.0.0.1. On SQLite (one instance) credentials live in memory, and closing the layer's scope
  // (shutdown) revokes every one; on PostgreSQL they are in the database, shared by every instance
  // on it, and a shutdown revokes none (the other instances still serve them).
  const mcpRegistry = Layer.unwrap(
    Effect.map(boundPort, (port) => {
      const registryOptions = {
        endpoint: { host: options.host, port, path: options.mcpPath ?? "/mcp", scheme: scheme(options) } as const
      }
      return options.databaseUrl === undefined
        ? McpSessionRegistry.layerConfig(registryOptions)
        : McpSessionRegistry.layerStoreConfig(registryOptions)
    })
  )

  // `iss` and the default `aud` of access tokens: the origin the server is reached at.
  const tokenOptions = options.accessTokens
  const accessTokens = tokenOptions === false ? Layer.empty : Layer.unwrap(Effect.map(
    boundPort,
    (port) => AccessTokens.layer({ issuer: new URL(baseUrl(options, port)).origin, algorithm: tokenOptions?.algorithm })
  ))

  const oauthOn = tokenOptions !== false && options.oauth !== false
  const documentOptions = options.oauth === false ? false : options.oauth?.clientMetadataDocuments
  const documentFetcher = documentOptions === false
    ? Layer.empty
    : OAuthClientDocumentFetcher.layer(documentOptions ?? {})
  const oauthLayer = OAuthAuthorizationServer.layer({ scopesSupported: options.applicationScopes }).pipe(
    Layer.provideMerge(OAuthClients.layer.pipe(Layer.provide(documentFetcher)))
  )
  // Built only with access tokens on (`oauthOn`), so its need of `AccessTokens` is always met.
  const oauth = (oauthOn ? oauthLayer : Layer.empty) as Layer.Layer<
    Layer.Success<typeof oauthLayer>,
    Layer.Error<typeof oauthLayer>,
    Exclude<Layer.Services<typeof oauthLayer>, AccessTokens.AccessTokens>
  >

  // The replay store is the memory one: entries live 65 seconds, and one instance sees its own
  // proofs. (Several instances on one database need the SQL store.)
  const dpop = options.dpop === false ? Layer.empty : Layer.unwrap(Effect.gen(function*() {
    const given = options.dpop === false ? {} : options.dpop ?? {}
    const nonces = given.nonces ?? (yield* Config.option(Config.Boolean("GATEHOUSE_DPOP_NONCES")).pipe(
      Effect.map(Option.getOrUndefined)
    ))
    const nonceStep = given.nonceStep ??
      (yield* Effect.map(Durations.config("GATEHOUSE_DPOP_NONCE_STEP"), Option.getOrUndefined))
    return DpopVerifier.layer({ ...given, nonces, nonceStep }).pipe(Layer.provide(DpopReplayStore.layerMemory))
  }))

  const core = ServerAuth.layer({ applicationScopes: options.applicationScopes }).pipe(
    Layer.provideMerge(oauth),
    Layer.provideMerge(accessTokens),
    Layer.provideMerge(
      BootstrapCredentialService.layer.pipe(Layer.provideMerge(SessionCredentialService.layerConfig()))
    ),
    Layer.provideMerge(GuestSessionService.layerConfig()),
    Layer.provideMerge(mcpRegistry),
    Layer.provideMerge(dpop),
    Layer.provideMerge(Stores.layer(options)),
    Layer.provideMerge(policy)
  )

  const settings: HttpAuthLayer.Options = {
    applicationScopes: options.applicationScopes,
    allowedOrigins: options.allowedOrigins,
    trustedProxies: options.trustedProxies,
    publicOrigin: options.publicUrl === undefined ? undefined : new URL(options.publicUrl).origin,
    webSocketLimits: options.webSocketLimits,
    insecureTransportAdvice: options.insecureTransportAdvice
  }

  const info = Layer.effect(
    GatehouseServer,
    Effect.gen(function*() {
      const port = yield* boundPort
      const { policy } = yield* ServerAuthPolicy.ServerAuthPolicy
      const found = NetworkAddresses.reachable(options.host, yield* (yield* NetworkAddresses.NetworkAddresses).list)
      const direct = (host: string) => `${scheme(options)}://${host}:${port}`
      return GatehouseServer.of({
        host: options.host,
        port,
        baseUrl: baseUrl(options, port),
        pairingBaseUrl: options.publicUrl !== undefined ? baseUrl(options, port) : direct(found.primary),
        otherBaseUrls: (options.publicUrl !== undefined ? [found.primary, ...found.others] : found.others).map(direct),
        loopbackOnly: options.publicUrl === undefined && found.loopbackOnly,
        tlsFingerprint: options.tls?.fingerprint,
        policy
      })
    })
  )

  // The application's routes, then the pair page; `HttpAuthLayer.layer` adds the auth and MCP
  // routes, the guards and the JSON 404 after them (the router keeps the first handler of a path).
  const oauthRoutes = oauthOn
    ? OAuthRoutes.layer({ pages: ConsentPage.pages, mcpPath: options.mcpPath ?? "/mcp" })
    : Layer.empty
  return Layer.merge(PairPage.layerWith({ tlsFingerprint: options.tls?.fingerprint }), oauthRoutes).pipe(
    Layer.provideMerge(routes),
    HttpAuthLayer.layer({
      ...settings,
      mcp: options.mcpRequiredScopes === undefined ? true : { requiredScopes: options.mcpRequiredScopes },
      guests: options.guests ?? true,
      denyByDefault: options.denyByDefault ?? true,
      publicRoutes: options.publicRoutes,
      disableListenLog: true
    }),
    Layer.provideMerge(Layer.merge(info, Shutdown.layer)),
    Layer.provideMerge(core),
    Layer.provideMerge(listener)
  )
}

/** The reference server: the hello application, the runs routes and the MCP echo, `/` redirecting to `/pair`. */
export const layer = (options: Options) =>
  serve({ ...options, applicationScopes: HelloRoutes.applicationScopes, mcpPath: McpEcho.path })(
    Layer.mergeAll(HelloRoutes.layer, RunRoutes.layer, McpEcho.layer, PairPage.redirectRoot)
  )

/** The services a caller of `layer` may want (tests, the CLI). */
export type Services = Layer.Success<ReturnType<typeof layer>>

export const services = (context: Context.Context<Services>) => ({
  info: Context.get(context, GatehouseServer),
  grants: Context.get(context, BootstrapCredentialService.BootstrapCredentialService),
  sessions: Context.get(context, SessionCredentialService.SessionCredentialService),
  guests: Context.get(context, GuestSessionService.GuestSessionService),
  serverAuth: Context.get(context, ServerAuth.ServerAuth),
  guard: Context.get(context, WebSocketGuard.WebSocketGuard),
  mcp: Context.get(context, McpSessionRegistry.McpSessionRegistry),
  shutdown: Context.get(context, Shutdown.Shutdown)
})
