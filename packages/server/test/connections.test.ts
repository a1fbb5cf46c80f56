/**
 * The listener's limits over real loopback sockets (issue 23 item 5): a body trickled a byte at a
 * time and headers that never end are cut within their timeouts (Node's defaults held them for
 * 300 s, checked every 30 s), and beyond the connection caps a new connection is closed at once
 * while an authenticated client on an open connection keeps working. The timeouts and caps are
 * set low here so that every count and wait stays small.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import * as Net from "node:net"
import { GatehouseServer, HelloRoutes } from "../src/index.ts"

const start = (options: Partial<GatehouseServer.Options> = {}) =>
  Effect.gen(function*() {
    const stateDir = yield* tempDirectory
    const context = yield* Layer.build(GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir, ...options }))
    return GatehouseServer.services(context)
  })

/** An open TCP connection that collects what it receives and when it closed. */
interface Connection {
  readonly socket: Net.Socket
  readonly received: () => string
  /** Resolves with the milliseconds from `connect` to `close`. */
  readonly closed: Promise<number>
}

const connect = (port: number, localAddress = "127.0.0.1") =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Connection>((resolve, reject) => {
        const started = Date.now()
        const socket = Net.connect({ port, host: "127.0.0.1", localAddress })
        let received = ""
        socket.on("data", (chunk) => (received += chunk.toString("latin1")))
        socket.on("error", () => undefined)
        const closed = new Promise<number>((done) => socket.once("close", () => done(Date.now() - started)))
        socket.once("connect", () => resolve({ socket, received: () => received, closed }))
        socket.once("error", reject)
      })
    ),
    (connection) => Effect.sync(() => connection.socket.destroy())
  )

/** Waits for `promise`, or `undefined` after `millis`. */
const within = <A>(promise: Promise<A>, millis: number) =>
  Effect.promise(() =>
    Promise.race([promise, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), millis))])
  )

/** Sends one keep-alive request on `connection` and waits (at most 5 s) for its whole response. */
const exchange = (connection: Connection, path: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<{ readonly status: number; readonly body: string }>((resolve, reject) => {
      const before = connection.received().length
      const lines = Object.entries({ host: "127.0.0.1", connection: "keep-alive", ...headers })
        .map(([name, value]) => `${name}: ${value}\r\n`)
      connection.socket.write(`GET ${path} HTTP/1.1\r\n${lines.join("")}\r\n`)
      const deadline = Date.now() + 5_000
      const poll = () => {
        const text = connection.received().slice(before)
        const split = text.indexOf("\r\n\r\n")
        const length = /\r\ncontent-length: (\d+)/i.exec(text)
        if (split >= 0 && length !== null && text.length >= split + 4 + Number(length[1])) {
          resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)![1]), body: text.slice(split + 4) })
        } else if (Date.now() > deadline || connection.socket.destroyed) {
          reject(new Error(`No whole response to ${path}: ${JSON.stringify(text)}`))
        } else setTimeout(poll, 10)
      }
      poll()
    })
  )

describe("connection limits", () => {
  it.live("partial headers are cut within the headers timeout (408), an idle connection too", () =>
    Effect.gen(function*() {
      const server = yield* start({ headersTimeout: "1 second", requestTimeout: "3 seconds" })
      const trickler = yield* connect(server.info.port)
      const idle = yield* connect(server.info.port)
      trickler.socket.write("GET /api/auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n")
      // A header line every 200 ms: bytes keep arriving, the headers never end.
      const timer = setInterval(() => trickler.socket.write("X-Slow: 1\r\n"), 200)
      const cut = yield* within(trickler.closed, 5_000)
      clearInterval(timer)
      assert.isDefined(cut, "the trickled headers were not cut within 5 s")
      assert.isAtLeast(cut!, 900)
      assert.isAtMost(cut!, 3_000)
      assert.match(trickler.received(), /^HTTP\/1\.1 408 /)
      assert.include(trickler.received(), "\"invalid_request\"")
      const idleCut = yield* within(idle.closed, 3_000)
      assert.isDefined(idleCut, "an idle connection was not cut")
      assert.isAtMost(idleCut!, 3_000)
    }))

  it.live("a body trickled a byte at a time is cut within the request timeout (408)", () =>
    Effect.gen(function*() {
      const server = yield* start({ headersTimeout: "1 second", requestTimeout: "2 seconds" })
      const trickler = yield* connect(server.info.port)
      trickler.socket.write(
        "POST /api/auth/bootstrap/bearer HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
          "content-length: 200\r\n\r\n{"
      )
      const timer = setInterval(() => trickler.socket.write(" "), 200)
      const cut = yield* within(trickler.closed, 6_000)
      clearInterval(timer)
      assert.isDefined(cut, "the trickled body was not cut within 6 s")
      assert.isAtLeast(cut!, 1_900)
      assert.isAtMost(cut!, 4_500)
      assert.match(trickler.received(), /^HTTP\/1\.1 408 /)
    }))

  it.live("beyond the caps a new connection is closed at once; an authenticated client keeps working", () =>
    Effect.gen(function*() {
      const server = yield* start({ maxConnections: 12, maxConnectionsPerAddress: 4, keepAliveTimeout: "30 seconds" })
      const port = server.info.port
      const { token } = yield* server.sessions.issue({
        subject: "owner",
        scopes: HelloRoutes.applicationScopes,
        method: "pairing"
      })
      const authorization = `Bearer ${Redacted.value(token)}`
      const client = yield* connect(port)
      assert.strictEqual((yield* exchange(client, "/api/hello", { authorization })).status, 200)

      // Per address: 127.0.0.2 gets 4 connections (each answered, so each is counted), not a 5th.
      for (let i = 0; i < 4; i++) {
        const filler = yield* connect(port, "127.0.0.2")
        assert.strictEqual((yield* exchange(filler, "/api/auth/session")).status, 200)
      }
      const refused = yield* connect(port, "127.0.0.2")
      refused.socket.write("GET /api/auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
      assert.isDefined(yield* within(refused.closed, 2_000), "the 5th connection from one address stayed open")
      assert.strictEqual(refused.received(), "")
      // Another address is not affected.
      const other = yield* connect(port, "127.0.0.3")
      assert.strictEqual((yield* exchange(other, "/api/auth/session")).status, 200)

      // In total: 1 + 4 + 1 open; 6 more from 127.0.0.4 and 127.0.0.5 fill the 12.
      for (let i = 0; i < 6; i++) {
        const filler = yield* connect(port, i % 2 === 0 ? "127.0.0.4" : "127.0.0.5")
        assert.strictEqual((yield* exchange(filler, "/api/auth/session")).status, 200)
      }
      for (const address of ["127.0.0.6", "127.0.0.7", "127.0.0.1"]) {
        const beyond = yield* connect(port, address)
        beyond.socket.write("GET /api/auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert.isDefined(yield* within(beyond.closed, 2_000), `a 13th connection (from ${address}) stayed open`)
        assert.strictEqual(beyond.received(), "")
      }
      // The authenticated client's open connection still works, and so do the others.
      assert.strictEqual((yield* exchange(client, "/api/hello", { authorization })).status, 200)
      assert.strictEqual((yield* exchange(other, "/api/auth/session")).status, 200)

      // A connection that closes frees its place at once.
      other.socket.destroy()
      yield* Effect.promise(() => other.closed)
      yield* Effect.sleep("100 millis")
      const again = yield* connect(port, "127.0.0.6")
      assert.strictEqual((yield* exchange(again, "/api/auth/session")).status, 200)
    }))
})
