/**
 * Hostile input against the live server: random cookies, Authorization headers, bodies, content
 * types and paths, sent as raw bytes over TCP (so nothing on the client side cleans them up).
 * Whatever arrives, the answer is never a 5xx and never authenticated, and the server keeps
 * answering.
 */
import { assert, describe, it } from "@effect/vitest"
import { rawExchange, request } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as fc from "fast-check"
import { adminSession, startServer } from "./harness.ts"

const line = (text: string) => Buffer.from(`${text}\r\n`, "latin1")

/**
 * Header values: mostly near-miss tokens and printable noise (which reach the auth code), some
 * control bytes and very long values (which the HTTP parser itself refuses).
 */
const headerValue = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(
      fc.constantFrom("v1", "v2", "", "v1.v1"),
      fc.string({ unit: fc.constantFrom(..."abcXYZ019-_"), maxLength: 20 }),
      fc.base64String({ maxLength: 200 }).map((s) => s.replace(/\+/g, "-").replace(/\//g, "_")),
      fc.base64String({ maxLength: 60 })
    ).map((parts) => parts.join("."))
  },
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(..."!#$%&'*+-.^_`|~ABCabc012=;,\"/ "), maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) =>
      Buffer.from(bytes).toString("latin1").replace(/[\r\n]/g, "")
    )
  },
  { weight: 1, arbitrary: fc.nat({ max: 20_000 }).map((n) => "A".repeat(n)) }
)

const routes: ReadonlyArray<readonly [string, string]> = [
  ["GET", "/api/hello"],
  ["GET", "/api/auth/session"],
  ["POST", "/api/auth/bootstrap"],
  ["POST", "/api/auth/bootstrap/bearer"],
  ["POST", "/api/auth/logout"],
  ["POST", "/api/auth/ws-ticket"],
  ["GET", "/api/auth/sessions"],
  ["DELETE", "/api/auth/sessions/x"],
  ["POST", "/api/auth/sessions/revoke-others"],
  ["POST", "/api/auth/pairing-links"],
  ["GET", "/api/auth/pairing-links"],
  ["DELETE", "/api/auth/pairing-links/x"],
  ["GET", "/ws"]
]

const hostile = fc.record({
  route: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...routes) },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD", "BREW"),
        fc.webPath().map((path) => (path.startsWith("/") ? path : `/${path}`).replace(/[\s]/g, ""))
      )
    }
  ),
  cookie: fc.option(fc.tuple(fc.constantFrom("gatehouse_session_PORT", "x", ""), headerValue)),
  authorization: fc.option(fc.oneof(headerValue, headerValue.map((v) => `Bearer ${v}`))),
  contentType: fc.option(
    fc.constantFrom("application/json", "text/plain", "application/json; charset=utf-8", "multipart/form-data", "")
  ),
  origin: fc.option(fc.constantFrom("null", "https://evil.example", "http://127.0.0.1")),
  body: fc.option(fc.oneof(
    fc.json(),
    fc.string({ unit: "binary", maxLength: 500 }),
    fc.record({ credential: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }).map((value) =>
      JSON.stringify(value)
    )
  ))
})

describe("hostile input against the live server", () => {
  it.effect("property: never a 5xx, never authenticated, and the server keeps answering", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 1_000_000 } })
      // A real session exists, so a bug that authenticates garbage would have something to find.
      yield* adminSession(server)
      const cases = fc.sample(hostile, { numRuns: 400, seed: 20261123 })
      for (const input of cases) {
        const body = input.body === null ? Buffer.alloc(0) : Buffer.from(input.body, "utf8")
        const head = Buffer.concat([
          line(`${input.route[0]} ${input.route[1]} HTTP/1.1`),
          line(`Host: 127.0.0.1:${server.port}`),
          ...(input.cookie === null
            ? []
            : [line(`Cookie: ${input.cookie[0].replace("PORT", String(server.port))}=${input.cookie[1]}`)]),
          ...(input.authorization === null ? [] : [line(`Authorization: ${input.authorization}`)]),
          ...(input.contentType === null ? [] : [line(`Content-Type: ${input.contentType}`)]),
          ...(input.origin === null ? [] : [line(`Origin: ${input.origin}`)]),
          line(`Content-Length: ${body.length}`),
          line("Connection: close"),
          line("")
        ])
        const { status } = yield* rawExchange(server.port, Buffer.concat([head, body]))
        const shown = JSON.stringify({ ...input, body: input.body?.slice(0, 80) }).slice(0, 400)
        assert.isAbove(status, 0, `no response to ${shown}`)
        assert.isBelow(status, 500, shown)
        if (input.route[1] === "/api/hello" || input.route[1].startsWith("/api/auth/sessions")) {
          assert.notStrictEqual(status, 200, shown)
        }
      }
      const after = yield* request(server.port, { path: "/api/auth/session" })
      assert.strictEqual(after.status, 200)
    }), { timeout: 120_000 })

  it.effect("malformed request lines and headers are 4xx, not 5xx", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const heads = [
        "GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=\u0000\u0001\r\n\r\n",
        "GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \u00ff\u00fe\r\n\r\n",
        `GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
        "GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gatehouse_session_1=%E0%A4%A\r\n\r\n",
        "POST /api/auth/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
        "GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
        "GARBAGE\r\n\r\n"
      ]
      for (const head of heads) {
        const { status } = yield* rawExchange(server.port, head)
        assert.isAtLeast(status, 400, JSON.stringify(head.slice(0, 80)))
        assert.isBelow(status, 500, JSON.stringify(head.slice(0, 80)))
      }
      assert.strictEqual((yield* request(server.port, { path: "/api/auth/session" })).status, 200)
    }), { timeout: 60_000 })
})
