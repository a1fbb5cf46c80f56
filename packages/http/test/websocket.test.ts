import { assert, describe, it } from "@effect/vitest"
import { request } from "@gatehouse-auth/testing/support"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import WebSocket from "ws"
import { WebSocketGuard } from "../src/index.ts"
import { adminSession, startServer, type TestServer } from "./harness.ts"

type Outcome =
  | { readonly _tag: "Open"; readonly socket: WebSocket }
  | {
    readonly _tag: "Refused"
    readonly status: number
    readonly body: string
    readonly headers: Record<string, string | Array<string> | undefined>
  }

/** Opens a WebSocket to the test server; resolves when it opens or the upgrade is refused. */
const connect = (
  server: TestServer,
  options: { query?: string; headers?: Record<string, string>; localAddress?: string } = {}
) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<Outcome>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${server.port}/ws${options.query ?? ""}`, {
          headers: options.headers ?? {},
          handshakeTimeout: 5_000,
          ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
        })
        socket.once("open", () => resolve({ _tag: "Open", socket }))
        socket.once("unexpected-response", (_request, response) => {
          let body = ""
          response.on("data", (chunk: Buffer) => (body += chunk.toString()))
          response.on(
            "end",
            () => resolve({ _tag: "Refused", status: response.statusCode ?? 0, body, headers: response.headers })
          )
        })
        socket.once("error", reject)
      })
    ),
    (outcome) => Effect.sync(() => outcome._tag === "Open" && outcome.socket.terminate())
  )

const echo = (socket: WebSocket, text: string) =>
  Effect.promise(() =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no echo within 5 s")), 5_000)
      socket.once("message", (data) => {
        clearTimeout(timer)
        resolve(data.toString())
      })
      socket.send(text)
    })
  )

/** Resolves with the close code, or "timeout" if the socket is still open after `millis`. */
const closeCodeWithin = (socket: WebSocket, millis: number) =>
  Effect.promise(() =>
    new Promise<number | "timeout">((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), millis)
      socket.once("close", (code) => {
        clearTimeout(timer)
        resolve(code)
      })
    })
  )

const opened = (outcome: Outcome) => {
  assert.strictEqual(outcome._tag, "Open", outcome._tag === "Refused" ? `${outcome.status} ${outcome.body}` : "")
  return (outcome as Extract<Outcome, { _tag: "Open" }>).socket
}

const refused = (outcome: Outcome, status: number, code: string) => {
  assert.strictEqual(outcome._tag, "Refused")
  const response = outcome as Extract<Outcome, { _tag: "Refused" }>
  assert.strictEqual(response.status, status)
  assert.strictEqual(JSON.parse(response.body).error.code, code)
  return response
}

/** Sends `count` frames at once and resolves with the echoes got and the close code, if any. */
const burst = (socket: WebSocket, count: number, expected: number) =>
  Effect.promise(() =>
    new Promise<{ readonly echoes: number; readonly closed: number | undefined }>((resolve) => {
      let echoes = 0
      const done = (closed: number | undefined) => {
        clearTimeout(timer)
        socket.off("message", onMessage)
        resolve({ echoes, closed })
      }
      const timer = setTimeout(() => done(undefined), 5_000)
      const onMessage = () => {
        if (++echoes === expected) done(undefined)
      }
      socket.on("message", onMessage)
      socket.once("close", (code) => done(code))
      for (let index = 0; index < count; index++) socket.send(`message ${index}`)
    })
  )

/** Polls `check` (real time) until it holds; dies after 5 s. */
const waitUntil = (check: Effect.Effect<boolean>, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 5_000
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`Timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

const ticketFor = (server: TestServer, token: string) =>
  Effect.map(
    request(server.port, {
      method: "POST",
      path: "/api/auth/ws-ticket",
      headers: { authorization: `Bearer ${token}` }
    }),
    (response) => response.json.ticket as string
  )

describe("WebSocket upgrade guard", () => {
  it.effect("no credential: refused before the upgrade", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      refused(yield* connect(server), 401, "missing_credential")
      refused(yield* connect(server, { query: "?wsTicket=garbage!" }), 401, "invalid_credential")
      assert.strictEqual(yield* server.guard.connections, 0)
    }))

  it.effect("a session cookie opens it; frames are echoed; the session shows as connected", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server)
      const socket = opened(yield* connect(server, { headers: { cookie: admin.cookie } }))
      assert.strictEqual(yield* echo(socket, "hello"), "hello")
      assert.strictEqual(yield* server.guard.connections, 1)
      const listed = yield* request(server.port, { path: "/api/auth/sessions", headers: { cookie: admin.cookie } })
      assert.isTrue(listed.json.sessions.find((s: { id: string }) => s.id === admin.session.sid).connected)
    }))

  it.effect("a foreign Origin is refused, with a cookie or with a ticket", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server)
      refused(
        yield* connect(server, { headers: { cookie: admin.cookie, origin: "https://evil.example" } }),
        403,
        "origin_not_allowed"
      )
      const ticket = yield* ticketFor(server, admin.token)
      refused(
        yield* connect(server, { query: `?wsTicket=${ticket}`, headers: { origin: "https://evil.example" } }),
        403,
        "origin_not_allowed"
      )
      // The refused attempt did not use the ticket up.
      const socket = opened(
        yield* connect(server, { query: `?wsTicket=${ticket}`, headers: { origin: `http://127.0.0.1:${server.port}` } })
      )
      assert.strictEqual(yield* echo(socket, "same origin"), "same origin")
    }))

  it.effect("a ticket works once", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server)
      const ticket = yield* ticketFor(server, admin.token)
      const socket = opened(yield* connect(server, { query: `?wsTicket=${ticket}` }))
      assert.strictEqual(yield* echo(socket, "once"), "once")
      refused(yield* connect(server, { query: `?wsTicket=${ticket}` }), 401, "invalid_credential")
      // A session token is not a ticket.
      refused(yield* connect(server, { query: `?wsTicket=${admin.token}` }), 401, "invalid_credential")
    }))

  it.effect("a junk session cookie does not shadow a valid ticket sent alongside it", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server)
      const ticket = yield* ticketFor(server, admin.token)
      const junk = { cookie: `gatehouse_session_${server.port}=junk` }
      const socket = opened(yield* connect(server, { query: `?wsTicket=${ticket}`, headers: junk }))
      assert.strictEqual(yield* echo(socket, "ticket"), "ticket")
      // Both bad: refused, as either alone would be.
      refused(yield* connect(server, { query: `?wsTicket=${ticket}`, headers: junk }), 401, "invalid_credential")
    }))

  it.effect("without the route's scope: 403", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const writer = yield* adminSession(server, ["write:hello"])
      refused(yield* connect(server, { headers: { cookie: writer.cookie } }), 403, "insufficient_scope")
    }))

  it.effect("revoking the session closes its open sockets with 4401 within a second", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server)
      const phone = yield* adminSession(server, ["read:hello"])
      const first = opened(yield* connect(server, { headers: { cookie: phone.cookie } }))
      const second = opened(yield* connect(server, { query: `?wsTicket=${yield* ticketFor(server, phone.token)}` }))
      const bystander = opened(yield* connect(server, { headers: { cookie: admin.cookie } }))
      assert.strictEqual(yield* echo(first, "ready"), "ready")
      assert.strictEqual(yield* echo(second, "ready"), "ready")
      const closes = Effect.all([closeCodeWithin(first, 1000), closeCodeWithin(second, 1000)], { concurrency: 2 })
      const [codes] = yield* Effect.all([
        closes,
        request(server.port, {
          method: "DELETE",
          path: `/api/auth/sessions/${phone.session.sid}`,
          headers: { authorization: `Bearer ${admin.token}` }
        })
      ], { concurrency: 2 })
      assert.deepStrictEqual(codes, [4401, 4401])
      // Other sessions' sockets stay open.
      assert.strictEqual(yield* echo(bystander, "still here"), "still here")
      assert.strictEqual(yield* server.guard.connections, 1)
    }))

  it.effect("a revoke made elsewhere (straight in the store) closes the socket at the next liveness check", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const phone = yield* adminSession(server, ["read:hello"])
      const socket = opened(yield* connect(server, { headers: { cookie: phone.cookie } }))
      assert.strictEqual(yield* echo(socket, "ready"), "ready")
      // Another process (the CLI, a second instance) removed the session: this instance saw no event.
      yield* server.sessionStore.remove(phone.session.sid)
      assert.strictEqual(yield* closeCodeWithin(socket, 200), "timeout")
      // Listen before the clock moves, so the close cannot happen unobserved.
      const closed = yield* Effect.forkChild(closeCodeWithin(socket, 1000))
      yield* Effect.yieldNow
      yield* TestClock.adjust("500 millis")
      assert.strictEqual(yield* Fiber.join(closed), 4401)
    }))
})

describe("WebSocket limits", () => {
  it.effect("the limits default as documented; a bad one fails at start", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* WebSocketGuard.resolveLimits(), {
        ...WebSocketGuard.defaultLimits,
        bufferCheckMillis: 1000
      })
      assert.strictEqual((yield* WebSocketGuard.resolveLimits({ maxPerSession: 2 })).maxPerSession, 2)
      for (
        const bad of [{ maxPerSession: 0 }, { maxPerAddress: 1.5 }, { messagesPerSecond: -1 }, {
          maxBufferedBytes: Number.NaN
        }]
      ) {
        const exit = yield* Effect.exit(WebSocketGuard.resolveLimits(bad))
        assert.isTrue(exit._tag === "Failure", JSON.stringify(bad))
      }
    }))

  it.live("at most 16 open sockets per session: the 17th upgrade is a 429 with Retry-After; closing one frees a place", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const phone = yield* adminSession(server, ["read:hello"])
      const other = yield* adminSession(server, ["read:hello"])
      const sockets: Array<WebSocket> = []
      for (let index = 0; index < 16; index++) {
        sockets.push(opened(yield* connect(server, { headers: { cookie: phone.cookie } })))
      }
      const response = refused(yield* connect(server, { headers: { cookie: phone.cookie } }), 429, "rate_limited")
      assert.isAtLeast(Number(response.headers["retry-after"]), 1)
      assert.strictEqual(response.headers["cache-control"], "no-store")
      // A ticket is the same session: refused as well.
      refused(
        yield* connect(server, { query: `?wsTicket=${yield* ticketFor(server, phone.token)}` }),
        429,
        "rate_limited"
      )
      // The cap is the session's, not the address's.
      assert.strictEqual(yield* echo(opened(yield* connect(server, { headers: { cookie: other.cookie } })), "o"), "o")
      assert.strictEqual(yield* server.guard.connections, 17)
      sockets[0]!.terminate()
      yield* waitUntil(Effect.map(server.guard.connections, (count) => count === 16), "the socket's end")
      assert.strictEqual(yield* echo(opened(yield* connect(server, { headers: { cookie: phone.cookie } })), "x"), "x")
    }))

  it.live("at most 64 open sockets per address, across sessions; another address still connects", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      for (let session = 0; session < 4; session++) {
        const { cookie } = yield* adminSession(server, ["read:hello"])
        for (let index = 0; index < 16; index++) opened(yield* connect(server, { headers: { cookie } }))
      }
      assert.strictEqual(yield* server.guard.connections, 64)
      const fresh = yield* adminSession(server, ["read:hello"])
      refused(yield* connect(server, { headers: { cookie: fresh.cookie } }), 429, "rate_limited")
      const elsewhere = opened(
        yield* connect(server, { headers: { cookie: fresh.cookie }, localAddress: "127.0.0.2" })
      )
      assert.strictEqual(yield* echo(elsewhere, "from 127.0.0.2"), "from 127.0.0.2")
    }))

  it.effect("more than 200 messages at once (the burst) closes the socket with 1008", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server, ["read:hello"])
      const socket = opened(yield* connect(server, { headers: { cookie: admin.cookie } }))
      const result = yield* burst(socket, 300, 300)
      assert.strictEqual(result.closed, 1008)
      assert.isAtMost(result.echoes, 200)
      assert.strictEqual(yield* server.guard.connections, 0)
    }))

  it.effect("the bucket refills at 100 messages a second (read through the Clock)", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server, ["read:hello"])
      const socket = opened(yield* connect(server, { headers: { cookie: admin.cookie } }))
      assert.deepStrictEqual(yield* burst(socket, 200, 200), { echoes: 200, closed: undefined })
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* burst(socket, 100, 100), { echoes: 100, closed: undefined })
      // The bucket is empty again and the clock has not moved: one more is one too many.
      assert.deepStrictEqual(yield* burst(socket, 1, 1), { echoes: 0, closed: 1008 })
    }))
})
