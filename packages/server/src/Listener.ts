/**
 * The Node HTTP server under Gatehouse, with two things Node does not do by itself:
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
 */
import { NodeHttpServer } from "@effect/platform-node"
import { WireErrors } from "@gatehouse-auth/http"
import { Duration } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"

export interface Options {
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  /** How long shutdown waits for open connections before destroying them (default 3 seconds). */
  readonly shutdownMillis: number
}

const unavailable = JSON.stringify({
  error: { code: "service_unavailable", message: "The server is starting or stopping; try again shortly" }
})

/** A server that answers 503 while nothing else handles requests; see the module's comment. */
const createServer = (shutdownMillis: number): Http.Server => {
  // What Node's HTTP parser refuses is answered in the contract's JSON error shape too.
  const server = WireErrors.installClientErrorHandler(Http.createServer())
  // Upgraded sockets included: "connection" sees every socket, before any upgrade.
  const sockets = new Set<Net.Socket>()
  server.on("connection", (socket: Net.Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
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
  NodeHttpServer.layer(() => createServer(options.shutdownMillis), {
    host: options.host,
    port: options.port,
    gracefulShutdownTimeout: Duration.millis(options.shutdownMillis),
    // Connections the kernel holds until the event loop accepts them (Node's default is 511): a
    // burst beyond it is reset before the server sees it, where a longer queue gets answers.
    backlog: 4096,
    // Echo frames and auth traffic are small; refuse anything big before buffering it.
    websocket: { maxPayload: 64 * 1024 }
  })
