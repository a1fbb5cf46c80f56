import { assert, describe, it } from "@effect/vitest"
import { Crockford, Ids } from "@gatehouse-auth/core"
import { bearer, cookiePair, jsonHeaders, postJson, request } from "@gatehouse-auth/testing/support"
import { Duration, Effect, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as Http from "node:http"
import { adminSession, applicationScopes, type ServerOptions, startServer, type TestServer } from "./harness.ts"

const withServer = <A, E>(body: (server: TestServer) => Effect.Effect<A, E>, options: ServerOptions = {}) =>
  Effect.flatMap(startServer(options), body)

const pairingCode = (
  server: TestServer,
  scopes: ReadonlyArray<string> = ["read:hello"],
  ttl: Duration.Input = "5 minutes"
) =>
  Effect.map(server.grants.issue({ subject: "owner", scopes, ttl }), (issued) => ({
    id: issued.id,
    code: Redacted.value(issued.credential)
  }))

/**
 * A POST whose headers go out at once and whose body waits for `send()`, on a connection of its
 * own; `send()` resolves with the response's status.
 */
const held = (port: number, path: string, body: unknown) => {
  const payload = Buffer.from(JSON.stringify(body))
  const req = Http.request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path,
    agent: false,
    headers: { host: `127.0.0.1:${port}`, "content-type": "application/json", "content-length": payload.length }
  })
  const status = new Promise<number>((resolve, reject) => {
    req.on("response", (response) => {
      response.resume()
      response.on("end", () => resolve(response.statusCode ?? 0))
    })
    req.on("error", reject)
  })
  req.flushHeaders()
  return {
    send: () => {
      req.end(payload)
      return status
    }
  }
}

const assertError = (
  response: { status: number; json: any; headers: Record<string, unknown> },
  status: number,
  code: string
) => {
  assert.strictEqual(response.status, status, JSON.stringify(response.json))
  assert.strictEqual(response.json?.error?.code, code)
  assert.isString(response.json.error.message)
  assert.strictEqual(response.headers["cache-control"], "no-store")
}

describe("GET /api/auth/session", () => {
  it.effect("describes the auth policy, anonymous or not, and never returns a token", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const anonymous = yield* request(server.port, { path: "/api/auth/session" })
        assert.strictEqual(anonymous.status, 200)
        assert.deepStrictEqual(anonymous.json, {
          authenticated: false,
          auth: {
            policy: "loopback-browser",
            bootstrapMethods: ["pairing-code"],
            sessionMethods: ["cookie", "bearer"],
            sessionCookieName: `gatehouse_session_${server.port}`
          }
        })
        const admin = yield* adminSession(server)
        const known = yield* request(server.port, { path: "/api/auth/session", headers: { cookie: admin.cookie } })
        assert.strictEqual(known.json.authenticated, true)
        assert.strictEqual(known.json.session.id, admin.session.sid)
        assert.notInclude(known.text, admin.token)
        const stale = yield* request(server.port, {
          path: "/api/auth/session",
          headers: { cookie: `gatehouse_session_${server.port}=v1.nope.nope.nope` }
        })
        assert.strictEqual(stale.status, 200)
        assert.strictEqual(stale.json.authenticated, false)
      })
    ))
})

describe("POST /api/auth/bootstrap", () => {
  it.effect("exchanges a code for a session cookie; the token is never in the body", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const { code } = yield* pairingCode(server)
        const response = yield* postJson(server.port, "/api/auth/bootstrap", {
          credential: Crockford.format(code).toLowerCase()
        })
        assert.strictEqual(response.status, 200, response.text)
        assert.strictEqual(response.json.authenticated, true)
        assert.deepStrictEqual(response.json.session.scopes, ["read:hello"])
        assert.strictEqual(response.headers["cache-control"], "no-store")
        assert.strictEqual(response.setCookies.length, 1)
        const token = cookiePair(response.setCookies[0]!).split("=")[1]!
        assert.isAbove(token.length, 40)
        assert.notInclude(response.text, token)
        assert.notInclude(response.text, code)
        const hello = yield* request(server.port, {
          path: "/api/hello",
          headers: { cookie: cookiePair(response.setCookies[0]!) }
        })
        assert.deepStrictEqual(hello.json, { hello: "owner" })
      })
    ))

  it.effect("refuses other content types with 415, whatever the body", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const { code } = yield* pairingCode(server)
        for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", undefined]) {
          const response = yield* request(server.port, {
            method: "POST",
            path: "/api/auth/bootstrap",
            headers: type === undefined ? {} : { "content-type": type },
            body: JSON.stringify({ credential: code })
          })
          assertError(response, 415, "unsupported_media_type")
        }
        // The code was not used by the refused attempts.
        const ok = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code })
        assert.strictEqual(ok.status, 200)
      })
    ))

  it.effect("malformed JSON, a wrong shape and an oversized body are 4xx with the error shape", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const post = (body: string) =>
          request(server.port, { method: "POST", path: "/api/auth/bootstrap", headers: jsonHeaders, body })
        assertError(yield* post("{not json"), 400, "invalid_request")
        assertError(yield* post(""), 400, "invalid_request")
        assertError(yield* post(JSON.stringify({ credential: 42 })), 400, "invalid_request")
        assertError(yield* post(JSON.stringify({ code: "ABCD" })), 400, "invalid_request")
        assertError(yield* post(JSON.stringify([1, 2])), 400, "invalid_request")
        assertError(yield* post(JSON.stringify({ credential: "x".repeat(100_000) })), 413, "payload_too_large")
        // The 400 message does not echo what was sent.
        const echoed = yield* post(JSON.stringify({ credential: { secret: "s3cr3t-value" } }))
        assert.notInclude(echoed.text, "s3cr3t-value")
      })
    ))

  it.effect("wrong, reused, revoked and expired codes are 401s with a Bearer challenge", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const { code } = yield* pairingCode(server)
        const wrong = yield* postJson(server.port, "/api/auth/bootstrap", { credential: Crockford.generate() })
        assertError(wrong, 401, "invalid_credential")
        assert.strictEqual(wrong.headers["www-authenticate"], `Bearer error="invalid_token"`)
        assert.strictEqual((yield* postJson(server.port, "/api/auth/bootstrap", { credential: code })).status, 200)
        const reused = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code })
        assertError(reused, 401, "invalid_credential")
        assert.strictEqual(reused.json.error.message, wrong.json.error.message)

        const revoked = yield* pairingCode(server)
        yield* server.grants.revoke(Ids.GrantId.make(revoked.id))
        assertError(
          yield* postJson(server.port, "/api/auth/bootstrap", { credential: revoked.code }),
          401,
          "invalid_credential"
        )

        // The server reads time through the test's clock.
        const expiring = yield* pairingCode(server, ["read:hello"], "1 minute")
        yield* TestClock.adjust("1 minute")
        const expired = yield* postJson(server.port, "/api/auth/bootstrap", { credential: expiring.code })
        assertError(expired, 401, "expired_credential")
        assert.strictEqual(expired.headers["www-authenticate"], `Bearer error="invalid_token"`)
      }), { rateLimit: { capacity: 100 } }))

  it.effect("refuses a foreign Origin (login CSRF) and accepts its own or a configured one", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const { code } = yield* pairingCode(server)
        const foreign = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code }, {
          origin: "https://evil.example"
        })
        assertError(foreign, 403, "origin_not_allowed")
        const nullOrigin = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code }, { origin: "null" })
        assertError(nullOrigin, 403, "origin_not_allowed")
        const own = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code }, {
          origin: `http://127.0.0.1:${server.port}`
        })
        assert.strictEqual(own.status, 200)
        const other = yield* pairingCode(server)
        const allowed = yield* postJson(server.port, "/api/auth/bootstrap", { credential: other.code }, {
          origin: "https://app.example"
        })
        assert.strictEqual(allowed.status, 200)
      }), { allowedOrigins: ["https://app.example"] }))

  it.effect("429 with Retry-After once an address has used up its failures, even for a good code", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const { code } = yield* pairingCode(server)
        for (let i = 0; i < 3; i++) {
          assertError(
            yield* postJson(server.port, "/api/auth/bootstrap", { credential: Crockford.generate() }),
            401,
            "invalid_credential"
          )
        }
        const limited = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code })
        assertError(limited, 429, "rate_limited")
        const retryAfter = Number(limited.headers["retry-after"])
        assert.isAtLeast(retryAfter, 1)
        assert.isAtMost(retryAfter, 60)
        // Session tokens have a budget of their own: the pairing budget does not refuse them.
        assertError(
          yield* request(server.port, { path: "/api/hello", headers: bearer("v1.a.b.c") }),
          401,
          "invalid_credential"
        )
      }), { rateLimit: { capacity: 3 } }))

  it.effect("a parallel burst: at most the budget of codes is evaluated, then even a valid code waits", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const valid = yield* Effect.forEach(Array.from({ length: 10 }), () => pairingCode(server))
        // 210 requests from one address, all in flight together: 200 wrong codes with 10 valid ones
        // among them. Every request's headers are sent first, so all of them have arrived before
        // any code is decided.
        const credentials = Array.from({ length: 200 }, () => Crockford.generate())
        valid.forEach(({ code }, i) => credentials.splice(10 + i * 20, 0, code))
        const inFlight = credentials.map((credential) => held(server.port, "/api/auth/bootstrap", { credential }))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
        // The first 10 codes (wrong) are decided: they use up the budget.
        const first = yield* Effect.promise(() => Promise.all(inFlight.slice(0, 10).map((each) => each.send())))
        assert.deepStrictEqual(first, Array(10).fill(401))
        // Then the other 200, valid ones included: none is evaluated.
        const rest = yield* Effect.promise(() => Promise.all(inFlight.slice(10).map((each) => each.send())))
        assert.deepStrictEqual(rest, Array(200).fill(429))
        const { code } = yield* pairingCode(server)
        assertError(yield* postJson(server.port, "/api/auth/bootstrap", { credential: code }), 429, "rate_limited")
        // One token back every 6 seconds.
        yield* TestClock.adjust("6 seconds")
        assert.strictEqual((yield* postJson(server.port, "/api/auth/bootstrap", { credential: code })).status, 200)
        // A success gave its token back: the next attempt is evaluated (401), the one after is not.
        assertError(
          yield* postJson(server.port, "/api/auth/bootstrap", { credential: Crockford.generate() }),
          401,
          "invalid_credential"
        )
        assertError(
          yield* postJson(server.port, "/api/auth/bootstrap", { credential: valid[0]!.code }),
          429,
          "rate_limited"
        )
      })
    ))

  it.effect("junk session cookies use the session-token budget, never the pairing budget", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const junk = { cookie: `gatehouse_session_${server.port}=junk` }
        for (let i = 0; i < 10; i++) {
          assertError(yield* request(server.port, { path: "/api/hello", headers: junk }), 401, "invalid_credential")
        }
        // The session-token budget is used up: junk is now answered 429...
        assertError(yield* request(server.port, { path: "/api/hello", headers: junk }), 429, "rate_limited")
        // ...a valid session from the same address still works...
        const admin = yield* adminSession(server)
        assert.strictEqual(
          (yield* request(server.port, { path: "/api/hello", headers: { cookie: admin.cookie } })).status,
          200
        )
        // ...and so does a valid code, with the junk cookie sent along (bootstrap never reads it).
        const { code } = yield* pairingCode(server)
        const paired = yield* postJson(server.port, "/api/auth/bootstrap", { credential: code }, junk)
        assert.strictEqual(paired.status, 200, JSON.stringify(paired.json))
      })
    ))
})

describe("POST /api/auth/bootstrap/bearer", () => {
  it.effect("returns a bearer token that authenticates, with the client's label", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const { code } = yield* pairingCode(server, [...applicationScopes, "read:access"])
        const response = yield* postJson(server.port, "/api/auth/bootstrap/bearer", {
          credential: code,
          client: { label: "CI runner", os: "Linux" }
        }, { "user-agent": "curl/8.0" })
        assert.strictEqual(response.status, 200, response.text)
        assert.strictEqual(response.json.tokenType, "Bearer")
        assert.isString(response.json.accessToken)
        assert.isNumber(response.json.expiresAt)
        assert.strictEqual(response.headers["cache-control"], "no-store")
        assert.deepStrictEqual(response.setCookies, [])
        const list = yield* request(server.port, {
          path: "/api/auth/sessions",
          headers: bearer(response.json.accessToken)
        })
        assert.strictEqual(list.json.sessions[0].client.label, "CI runner")
        assert.strictEqual(list.json.sessions[0].client.browser, "curl")
        assert.notInclude(list.text, response.json.accessToken)
        assertError(
          yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: code }),
          401,
          "invalid_credential"
        )
      })
    ))
})

describe("POST /api/auth/logout", () => {
  it.effect("revokes the session and clears the cookie; needs a session", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const missing = yield* request(server.port, { method: "POST", path: "/api/auth/logout" })
        assertError(missing, 401, "missing_credential")
        assert.strictEqual(missing.headers["www-authenticate"], "Bearer")
        const admin = yield* adminSession(server)
        const response = yield* request(server.port, {
          method: "POST",
          path: "/api/auth/logout",
          headers: { cookie: admin.cookie }
        })
        assert.strictEqual(response.status, 204)
        assert.match(response.setCookies[0]!, new RegExp(`^gatehouse_session_${server.port}=;`))
        assert.match(response.setCookies[0]!, /Max-Age=0/)
        assertError(
          yield* request(server.port, { path: "/api/hello", headers: { cookie: admin.cookie } }),
          401,
          "invalid_credential"
        )
      })
    ))

  it.effect("a cookie-authenticated unsafe request from a foreign Origin is refused; a bearer one is not", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const admin = yield* adminSession(server)
        const viaCookie = yield* request(server.port, {
          method: "POST",
          path: "/api/auth/logout",
          headers: { cookie: admin.cookie, origin: "http://evil.example" }
        })
        assertError(viaCookie, 403, "origin_not_allowed")
        assert.strictEqual(
          (yield* request(server.port, { path: "/api/hello", headers: { cookie: admin.cookie } })).status,
          200
        )
        // A safe method carries no Origin restriction.
        const safe = yield* request(server.port, {
          path: "/api/hello",
          headers: { cookie: admin.cookie, origin: "http://evil.example" }
        })
        assert.strictEqual(safe.status, 200)
        const viaBearer = yield* request(server.port, {
          method: "POST",
          path: "/api/auth/logout",
          headers: { ...bearer(admin.token), origin: "http://evil.example" }
        })
        assert.strictEqual(viaBearer.status, 204)
      })
    ))
})

describe("POST /api/auth/ws-ticket", () => {
  it.effect("issues a single-use ticket to a session", () =>
    withServer((server) =>
      Effect.gen(function*() {
        assertError(
          yield* request(server.port, { method: "POST", path: "/api/auth/ws-ticket" }),
          401,
          "missing_credential"
        )
        const admin = yield* adminSession(server)
        const response = yield* request(server.port, {
          method: "POST",
          path: "/api/auth/ws-ticket",
          headers: bearer(admin.token)
        })
        assert.strictEqual(response.status, 200, response.text)
        assert.isString(response.json.ticket)
        assert.strictEqual(response.json.expiresAt, 60_000)
        assert.strictEqual(response.headers["cache-control"], "no-store")
        // A ticket is not a session.
        assertError(
          yield* request(server.port, { path: "/api/hello", headers: bearer(response.json.ticket) }),
          401,
          "invalid_credential"
        )
      })
    ))
})

describe("sessions", () => {
  it.effect("list needs read:access and never holds a token; insufficient scope says which", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const plain = yield* adminSession(server, ["read:hello"])
        const refused = yield* request(server.port, { path: "/api/auth/sessions", headers: bearer(plain.token) })
        assertError(refused, 403, "insufficient_scope")
        assert.strictEqual(
          refused.headers["www-authenticate"],
          `Bearer error="insufficient_scope", scope="read:access"`
        )
        const admin = yield* adminSession(server)
        const list = yield* request(server.port, { path: "/api/auth/sessions", headers: { cookie: admin.cookie } })
        assert.strictEqual(list.status, 200)
        assert.strictEqual(list.json.sessions.length, 2)
        const current = list.json.sessions.filter((s: { current: boolean }) => s.current)
        assert.deepStrictEqual(current.map((s: { id: string }) => s.id), [admin.session.sid])
        assert.notInclude(list.text, admin.token)
        assert.notInclude(list.text, plain.token)
        assert.notInclude(list.text, admin.token.split(".")[3]!)
      })
    ))

  it.effect("DELETE revokes another session, refuses your own and needs write:access", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const admin = yield* adminSession(server)
        const reader = yield* adminSession(server, ["read:access", "read:hello"])
        const own = yield* request(server.port, {
          method: "DELETE",
          path: `/api/auth/sessions/${admin.session.sid}`,
          headers: bearer(admin.token)
        })
        assertError(own, 403, "forbidden")
        const noWrite = yield* request(server.port, {
          method: "DELETE",
          path: `/api/auth/sessions/${admin.session.sid}`,
          headers: bearer(reader.token)
        })
        assertError(noWrite, 403, "insufficient_scope")
        const revoked = yield* request(server.port, {
          method: "DELETE",
          path: `/api/auth/sessions/${reader.session.sid}`,
          headers: bearer(admin.token)
        })
        assert.deepStrictEqual(revoked.json, { revoked: true })
        assertError(
          yield* request(server.port, { path: "/api/hello", headers: bearer(reader.token) }),
          401,
          "invalid_credential"
        )
        const again = yield* request(server.port, {
          method: "DELETE",
          path: `/api/auth/sessions/${reader.session.sid}`,
          headers: bearer(admin.token)
        })
        assert.deepStrictEqual(again.json, { revoked: false })
      })
    ))

  it.effect("revoke-others keeps only the caller's session", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const admin = yield* adminSession(server)
        const others = yield* Effect.all([adminSession(server), adminSession(server, ["read:hello"])])
        const response = yield* request(server.port, {
          method: "POST",
          path: "/api/auth/sessions/revoke-others",
          headers: bearer(admin.token)
        })
        assert.deepStrictEqual(response.json, { revokedCount: 2 })
        for (const other of others) {
          assertError(
            yield* request(server.port, { path: "/api/hello", headers: bearer(other.token) }),
            401,
            "invalid_credential"
          )
        }
        assert.strictEqual(
          (yield* request(server.port, { path: "/api/hello", headers: bearer(admin.token) })).status,
          200
        )
      })
    ))
})

describe("pairing links", () => {
  it.effect("create (201, code and URL), list without codes, use, delete", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const admin = yield* adminSession(server)
        const created = yield* postJson(
          server.port,
          "/api/auth/pairing-links",
          { label: "phone", ttlSeconds: 120 },
          bearer(admin.token)
        )
        assert.strictEqual(created.status, 201, created.text)
        assert.match(created.json.credential, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
        const code = created.json.credential.replace(/-/g, "")
        assert.strictEqual(created.json.url, `http://127.0.0.1:${server.port}/pair#token=${code}`)
        assert.deepStrictEqual(created.json.scopes, applicationScopes)
        assert.strictEqual(created.headers["cache-control"], "no-store")

        const list = yield* request(server.port, { path: "/api/auth/pairing-links", headers: bearer(admin.token) })
        assert.strictEqual(list.json.links.length, 1)
        assert.strictEqual(list.json.links[0].label, "phone")
        assert.notInclude(list.text, code)
        assert.notInclude(list.text, created.json.credential)

        const paired = yield* postJson(server.port, "/api/auth/bootstrap/bearer", {
          credential: created.json.credential
        })
        assert.deepStrictEqual(paired.json.session.scopes, applicationScopes)

        const second = yield* postJson(server.port, "/api/auth/pairing-links", {}, bearer(admin.token))
        const deleted = yield* request(server.port, {
          method: "DELETE",
          path: `/api/auth/pairing-links/${second.json.id}`,
          headers: bearer(admin.token)
        })
        assert.deepStrictEqual(deleted.json, { revoked: true })
        assertError(
          yield* postJson(server.port, "/api/auth/bootstrap", { credential: second.json.credential }),
          401,
          "invalid_credential"
        )
        assert.deepStrictEqual(
          (yield* request(server.port, { path: "/api/auth/pairing-links", headers: bearer(admin.token) })).json,
          { links: [] }
        )
      })
    ))

  it.effect("refuses scopes the caller lacks, bad scopes, bad TTLs, other media types; needs write:access", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const limited = yield* adminSession(server, ["read:hello", "write:access"])
        const lacking = yield* postJson(
          server.port,
          "/api/auth/pairing-links",
          { scopes: ["write:hello"] },
          bearer(limited.token)
        )
        assertError(lacking, 403, "insufficient_scope")
        assert.include(lacking.headers["www-authenticate"] as string, `scope="write:hello"`)
        // The default bundle includes write:hello, which this holder lacks: a narrower link works.
        const narrow = yield* postJson(
          server.port,
          "/api/auth/pairing-links",
          { scopes: ["read:hello"] },
          bearer(limited.token)
        )
        assert.strictEqual(narrow.status, 201)
        const admin = yield* adminSession(server)
        assertError(
          yield* postJson(server.port, "/api/auth/pairing-links", { scopes: ["NOT A SCOPE"] }, bearer(admin.token)),
          400,
          "invalid_request"
        )
        assertError(
          yield* postJson(server.port, "/api/auth/pairing-links", { ttlSeconds: 0 }, bearer(admin.token)),
          400,
          "invalid_request"
        )
        assertError(
          yield* postJson(server.port, "/api/auth/pairing-links", { ttlSeconds: 10 ** 9 }, bearer(admin.token)),
          400,
          "invalid_request"
        )
        assertError(
          yield* request(server.port, {
            method: "POST",
            path: "/api/auth/pairing-links",
            headers: { ...bearer(admin.token), "content-type": "text/plain" },
            body: "{}"
          }),
          415,
          "unsupported_media_type"
        )
        const reader = yield* adminSession(server, ["read:hello"])
        assertError(
          yield* postJson(server.port, "/api/auth/pairing-links", {}, bearer(reader.token)),
          403,
          "insufficient_scope"
        )
        assertError(
          yield* request(server.port, { path: "/api/auth/pairing-links", headers: bearer(reader.token) }),
          403,
          "insufficient_scope"
        )
      })
    ))
})

describe("request guards", () => {
  it.effect("the loopback Host guard accepts localhost, 127.0.0.1 and [::1] only", () =>
    withServer((server) =>
      Effect.gen(function*() {
        for (
          const host of [
            "localhost",
            `localhost:${server.port}`,
            "127.0.0.1",
            `127.0.0.1:${server.port}`,
            "[::1]",
            `[::1]:${server.port}`,
            "LOCALHOST"
          ]
        ) {
          assert.strictEqual((yield* request(server.port, { path: "/api/auth/session", host })).status, 200, host)
        }
        for (
          const host of [
            "evil.example",
            `evil.example:${server.port}`,
            "127.0.0.1.nip.io",
            "localhost.evil.example",
            "0.0.0.0",
            "",
            "127.0.0.2"
          ]
        ) {
          assertError(yield* request(server.port, { path: "/api/auth/session", host }), 403, "forbidden")
        }
      })
    ))

  it.effect("no credential, garbage credentials and unknown routes are answered in the error shape", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const none = yield* request(server.port, { path: "/api/hello" })
        assertError(none, 401, "missing_credential")
        assert.strictEqual(none.headers["www-authenticate"], "Bearer")
        for (
          const header of [
            "Bearer",
            "Bearer ",
            "Basic abc",
            "Bearer a b",
            "bearer v1.x.y.z",
            `Bearer ${"a".repeat(5000)}`
          ]
        ) {
          const response = yield* request(server.port, { path: "/api/hello", headers: { authorization: header } })
          assertError(response, 401, "invalid_credential")
          assert.strictEqual(response.headers["www-authenticate"], `Bearer error="invalid_token"`)
        }
        assertError(yield* request(server.port, { path: "/api/nope" }), 404, "not_found")
        // A token in the query string is never read.
        const admin = yield* adminSession(server)
        assertError(
          yield* request(server.port, { path: `/api/hello?access_token=${admin.token}` }),
          401,
          "missing_credential"
        )
      }), { rateLimit: { capacity: 1000 } }))

  it.effect("a stale cookie does not shadow a good bearer token", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const admin = yield* adminSession(server)
        const response = yield* request(server.port, {
          path: "/api/hello",
          headers: { cookie: `gatehouse_session_${server.port}=v1.old.old.old`, ...bearer(admin.token) }
        })
        assert.strictEqual(response.status, 200)
        // Nor at GET /api/auth/session: the bearer token's session is the answer.
        const state = yield* request(server.port, {
          path: "/api/auth/session",
          headers: { cookie: `gatehouse_session_${server.port}=v1.old.old.old`, ...bearer(admin.token) }
        })
        assert.strictEqual(state.status, 200)
        assert.strictEqual(state.json.authenticated, true, state.text)
      })
    ))
})
