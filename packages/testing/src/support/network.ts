import { Effect } from "effect"
import * as Net from "node:net"

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
export const freePort = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

/**
 * A TCP forwarder on 127.0.0.1 to `target`, to cut a database off for real: `down` stops listening
 * and drops every open connection (the client sees its connections die and new ones refused);
 * `up` listens again on the same port. Closed with the scope.
 */
export const tcpProxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((client) => {
      const upstream = Net.connect(target.port, target.host)
      for (const socket of [client, upstream]) {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {
          client.destroy()
          upstream.destroy()
        })
      }
      client.pipe(upstream).pipe(client)
    })
    const listen = (port: number) =>
      Effect.promise(() =>
        new Promise<number>((resolve, reject) => {
          server.once("error", reject)
          server.listen(port, "127.0.0.1", () => {
            server.off("error", reject)
            resolve((server.address() as Net.AddressInfo).port)
          })
        })
      )
    const down = Effect.promise(() =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        if (!server.listening) return resolve()
        server.close(() => resolve())
      })
    )
    const port = yield* Effect.acquireRelease(listen(0), () => down)
    return { port, down, up: Effect.asVoid(listen(port)) }
  })
