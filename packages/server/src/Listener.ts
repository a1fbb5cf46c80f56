/**
 * The Node HTTP server under Gatehouse (HTTPS when given a certificate: `node:https`, the same
 * server over TLS, so everything below holds for it too), with what Node does not do by itself:
 *
 * - **An answer before the routes.** It listens before the rest of the layer is built (the policy
 *   needs the bound port, and the stores open after that), and Node leaves a request that no
 *   listener takes without an answer: until the routes are attached (and once they are detached on
 *   shutdown) a request is answered 503 with `Retry-After: 1` instead of hanging.
 * - **An end to the grace period.** Closing waits for open connections to end, and a client that
 *   never answers a WebSocket close frame, or keeps an idle connection, would keep the process
 *   alive for ever. From the moment the server is asked to close, whatever is still connected
 *   after `shutdownMillis` is destroyed, so shutdown ends within the grace period whatever the
 *   clients do.
 * - **Connection caps.** Node accepts connections until the process runs out of file descriptors,
 *   and then answers nobody. Every socket is counted on `connection` (upgraded ones included), in
 *   total and per client address (IPv6 by its /64, as the rate limiter groups addresses); one beyond
 *   either cap is destroyed at once, before Node reads a byte of it, while the connections already
 *   open carry on. The caps sit well below a usual descriptor limit, so the process keeps
 *   descriptors for its database, its files and its accepted clients.
 * - **Short timeouts.** Node's own (`headersTimeout` 60 s, `requestTimeout` 300 s, checked every
 *   30 s) let a client that trickles its headers or its body hold a connection for minutes. They are
 *   lowered here (10 s, 30 s and a 5 s keep-alive by default) and checked often enough that a
 *   request is cut within about a second of its deadline (408, in the contract's shape).
 */
import { NodeHttpServer } from "@effect/platform-node"
import { RateLimiter, WireErrors } from "@gatehouse-auth/http"
import { Duration } from "effect"
import * as Http from "node:http"
import * as Https from "node:https"
import type * as Net from "node:net"

export interface Options {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** How long shutdown waits for open connections before destroying them (default 3 seconds). */
  readonly shutdownMillis: number
  /** Open connections at once, in total and from one address (IPv6: its /64); see `defaults`. */
  readonly maxConnections: number
  readonly maxConnectionsPerAddress: number
  /** Time to receive a request's headers, and the whole request; at most `requestTimeoutMillis`. */
  readonly headersTimeoutMillis: number
  readonly requestTimeoutMillis: number
  /** How long an idle keep-alive connection stays open after a response. */
  readonly keepAliveTimeoutMillis: number
  /** Serve HTTPS (and WSS) with this certificate and key (PEM); plain HTTP without. */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined
}

/** The defaults, sized for a server that a few people and their agents use (docs/decisions.md). */
export const defaults = {
  maxConnections: 1024,
  maxConnectionsPerAddress: 256,
  headersTimeoutMillis: 10_000,
  requestTimeoutMillis: 30_000,
  keepAliveTimeoutMillis: 5_000
} as const

/**
 * How often Node looks for requests past their deadline (its default is 30 s, so a 30 s
 * `requestTimeout` could hold a connection for a minute): a quarter of the shortest timeout, from
 * 50 ms to 1 s. The check walks the open connections, which the caps bound.
 */
const checkingInterval = (options: Options) =>
  Math.min(1_000, Math.max(50, Math.floor(Math.min(options.headersTimeoutMillis, options.requestTimeoutMillis) / 4)))

const unavailable = JSON.stringify({
  error: { code: "service_unavailable", message: "The server is starting or stopping; try again shortly" }
})

/** A server that answers 503 while nothing else handles requests; see the module's comment. */
const createServer = (options: Options): Http.Server => {
  const { shutdownMillis } = options
  // What Node's HTTP parser refuses (a request past its deadline too: 408) is answered in the
  // contract's JSON error shape.
  const settings = {
    headersTimeout: options.headersTimeoutMillis,
    requestTimeout: options.requestTimeoutMillis,
    connectionsCheckingInterval: checkingInterval(options)
  }
  // An HTTPS server is an HTTP server over TLS: the same events, caps and timeouts; "connection"
  // still sees the raw socket before its handshake, so the caps count it before any TLS work.
  const server = WireErrors.installClientErrorHandler(
    options.tls === undefined
      ? Http.createServer(settings)
      : Https.createServer({ ...settings, cert: options.tls.cert, key: options.tls.key })
  )
  server.keepAliveTimeout = options.keepAliveTimeoutMillis
  // Upgraded sockets included: "connection" sees every socket, before any upgrade.
  const sockets = new Set<Net.Socket>()
  const perAddress = new Map<string, number>()
  server.on("connection", (socket: Net.Socket) => {
    const group = RateLimiter.addressGroup(socket.remoteAddress ?? "unknown")
    const fromAddress = perAddress.get(group) ?? 0
    if (sockets.size >= options.maxConnections || fromAddress >= options.maxConnectionsPerAddress) {
      // Refused at once: no parser work, no timer, and the descriptor is released now.
      socket.destroy()
      return
    }
    sockets.add(socket)
    perAddress.set(group, fromAddress + 1)
    socket.once("close", () => {
      sockets.delete(socket)
      const left = (perAddress.get(group) ?? 1) - 1
      if (left <= 0) perAddress.delete(group)
      else perAddress.set(group, left)
    })
  })
  // `close` is where shutdown starts (whoever calls it: the grace-period timeout of
  // `HttpRouter.serve` or the scope's finalizer), so the deadline is armed there, once.
  let armed = false
  const close = server.close.bind(server)
  server.close = (callback?: (error?: Error) => void) => {
    if (!armed) {
      armed = true
      setTimeout(() => {
        for (const socket of sockets) socket.destroy()
      }, shutdownMillis).unref()
    }
    return close(callback)
  }
  server.on("request", (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
    if (server.listenerCount("request") > 1) return
    response.writeHead(503, {
      "content-type": "application/json",
      "cache-control": "no-store",
      "retry-after": "1",
      "content-length": Buffer.byteLength(unavailable)
    })
    response.end(unavailable)
  })
  return server
}

/** `HttpServer` on `host:port`; see the module's comment. */
export const layer = (options: Options) =>
  NodeHttpServer.layer(() => createServer(options), {
    host: options.host,
    port: options.port,
    gracefulShutdownTimeout: Duration.millis(options.shutdownMillis),
    // Connections the kernel holds until the event loop accepts them (Node's default is 511): a
    // burst beyond it is reset before the server sees it, where a longer queue gets answers.
    backlog: 4096,
    // Echo frames and auth traffic are small; refuse anything big before buffering it.
    websocket: { maxPayload: 64 * 1024 }
  })
