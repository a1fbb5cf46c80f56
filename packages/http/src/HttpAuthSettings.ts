/**
 * Settings of the HTTP auth layer. Everything has a default except the application's scopes.
 */
import { Context, Layer } from "effect"

export interface HttpAuthSettingsShape {
  /** The application's own scopes (the standard bundle a pairing link grants by default). */
  readonly applicationScopes: ReadonlyArray<string>
  /** Origins besides the server's own that may make cookie-authenticated unsafe requests. */
  readonly allowedOrigins: ReadonlyArray<string>
  /**
   * The origin browsers reach this server at (`https://auth.example.com`). On a remote-reachable
   * server set it: without it the server's own origin is derived from the Host header.
   */
  readonly publicOrigin: string | undefined
  /** Largest JSON body accepted (default 64 KiB). */
  readonly maxBodyBytes: number
  /** Deepest nesting of arrays and objects in a JSON body (default 64); deeper is `400`. */
  readonly maxJsonDepth: number
  /**
   * Pairing links made through `POST /api/auth/pairing-links` open at once (not used up, expired
   * or revoked; default 100); one more is `409 too_many_pairing_links`. What bounds the list, the
   * store and the `/pair` page a session can fill.
   */
  readonly maxOpenPairingLinks: number
  /** Default lifetime of a pairing link (seconds, default 300) and the longest allowed (default 7 days). */
  readonly pairingLinkTtlSeconds: number
  readonly maxPairingLinkTtlSeconds: number
  /**
   * Unauthenticated work that reaches a store (a pairing or desktop credential exchanged for a
   * session) running at once (default 8) and waiting behind it (default 32, for at most a
   * second); beyond, `503 service_unavailable` with `Retry-After` at once. Whoever holds no
   * credential cannot make the server queue unbounded work, and the authenticated traffic on the
   * same database keeps its connections.
   */
  readonly maxConcurrentUnauthenticated: number
  readonly maxQueuedUnauthenticated: number
  /**
   * What the `400 insecure_transport` answer tells a person to do (a cookie bootstrap over plain
   * HTTP to a non-loopback name, whose Secure cookie the browser would drop). The default points at
   * the HTTPS `publicOrigin` when there is one, else at serving HTTPS or the bearer flow; a server
   * with its own flags (the reference server's `--tls-self-signed`) names them here.
   */
  readonly insecureTransportAdvice: string
  /**
   * Bearer credentials must be bound to a DPoP key (default false; needs a `DpopVerifier`): the
   * bearer bootstrap, `POST /api/auth/tokens` and `POST /oauth/token` refuse a request without a
   * proof (`400 invalid_dpop_proof`), and the RFC 9728 document says
   * `dpop_bound_access_tokens_required: true`. Cookie sessions and MCP per-thread credentials are
   * not concerned (a browser's cookie is HttpOnly; an agent gets a static header).
   */
  readonly requireDpop: boolean
}

export class HttpAuthSettings extends Context.Service<HttpAuthSettings, HttpAuthSettingsShape>()(
  "@gatehouse-auth/http/HttpAuthSettings"
) {}

export type Options =
  & {
    readonly [K in Exclude<keyof HttpAuthSettingsShape, "applicationScopes">]?: HttpAuthSettingsShape[K] | undefined
  }
  & { readonly applicationScopes: ReadonlyArray<string> }

export const make = (options: Options): HttpAuthSettingsShape => ({
  applicationScopes: options.applicationScopes,
  allowedOrigins: options.allowedOrigins ?? [],
  publicOrigin: options.publicOrigin?.replace(/\/+$/, "").toLowerCase(),
  maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
  maxJsonDepth: options.maxJsonDepth ?? 64,
  maxOpenPairingLinks: options.maxOpenPairingLinks ?? 100,
  pairingLinkTtlSeconds: options.pairingLinkTtlSeconds ?? 300,
  maxPairingLinkTtlSeconds: options.maxPairingLinkTtlSeconds ?? 7 * 24 * 3600,
  maxConcurrentUnauthenticated: options.maxConcurrentUnauthenticated ?? 8,
  maxQueuedUnauthenticated: options.maxQueuedUnauthenticated ?? 32,
  insecureTransportAdvice: options.insecureTransportAdvice ?? defaultInsecureTransportAdvice(options.publicOrigin),
  requireDpop: options.requireDpop ?? false
})

const defaultInsecureTransportAdvice = (publicOrigin: string | undefined): string =>
  publicOrigin !== undefined && /^https:/i.test(publicOrigin)
    ? `Open ${publicOrigin.replace(/\/+$/, "")}/pair instead, or pair through POST /api/auth/bootstrap/bearer.`
    : "Serve this server over HTTPS (a certificate, or a TLS proxy and its public origin), " +
      "or pair through POST /api/auth/bootstrap/bearer."

export const layer = (options: Options) => Layer.succeed(HttpAuthSettings, HttpAuthSettings.of(make(options)))
