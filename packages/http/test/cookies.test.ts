import { assert, describe, it } from "@effect/vitest"
import { cookiePair, postJson, request } from "@gatehouse-auth/testing/support"
import { Effect, Redacted } from "effect"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { startServer, type TestServer } from "./harness.ts"

const run = promisify(execFile)

/** A self-signed certificate for 127.0.0.1, made for this test run by openssl. */
const selfSigned = Effect.promise(async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-tls-"))
  try {
    const key = Path.join(directory, "key.pem")
    const cert = Path.join(directory, "cert.pem")
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert
    ])
    return { key: Fs.readFileSync(key, "utf8"), cert: Fs.readFileSync(cert, "utf8") }
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
})

/** Attributes of a Set-Cookie header, lower-cased, without the name=value pair. */
const attributes = (setCookie: string) =>
  setCookie.split(";").slice(1).map((part) => part.trim().toLowerCase().split("=")[0]!).sort()

const pair = (server: TestServer, options: { tls?: boolean; headers?: Record<string, string> } = {}) =>
  Effect.gen(function*() {
    const issued = yield* server.grants.issue({ subject: "owner", scopes: ["read:hello"] })
    const body = JSON.stringify({ credential: Redacted.value(issued.credential) })
    return yield* request(server.port, {
      method: "POST",
      path: "/api/auth/bootstrap",
      headers: { "content-type": "application/json", ...options.headers },
      body,
      tls: options.tls ?? false
    })
  })

describe("session cookie", () => {
  it.effect("plain-HTTP loopback: per-port name, HttpOnly, SameSite=Lax, Path=/, no Secure, no Domain", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const response = yield* pair(server)
      const cookie = response.setCookies[0]!
      assert.match(cookie, new RegExp(`^gatehouse_session_${server.port}=v1\\.`))
      assert.deepStrictEqual(attributes(cookie), ["httponly", "max-age", "path", "samesite"])
      assert.match(cookie, /; Path=\/(;|$)/)
      assert.match(cookie, /; SameSite=Lax(;|$)/)
      assert.match(cookie, /; Max-Age=2592000(;|$)/)
    }))

  it.effect("over HTTPS: __Host- name, Secure, and it authenticates", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ tls: yield* selfSigned })
      const response = yield* pair(server, { tls: true })
      assert.strictEqual(response.status, 200, response.text)
      const cookie = response.setCookies[0]!
      assert.match(cookie, /^__Host-gatehouse_session=v1\./)
      assert.deepStrictEqual(attributes(cookie), ["httponly", "max-age", "path", "samesite", "secure"])
      const session = yield* request(server.port, {
        path: "/api/auth/session",
        tls: true,
        headers: { cookie: cookiePair(cookie) }
      })
      assert.strictEqual(session.json.authenticated, true)
      assert.strictEqual(session.json.auth.sessionCookieName, "__Host-gatehouse_session")
      // Over HTTPS the per-port plain name is not read.
      const token = cookiePair(cookie).split("=")[1]!
      const plainName = yield* request(server.port, {
        path: "/api/hello",
        tls: true,
        headers: { cookie: `gatehouse_session_${server.port}=${token}` }
      })
      assert.strictEqual(plainName.status, 401)
      // The page origin is https: an https Origin is our own.
      const logout = yield* request(server.port, {
        method: "POST",
        path: "/api/auth/logout",
        tls: true,
        headers: { cookie: cookiePair(cookie), origin: `https://127.0.0.1:${server.port}` }
      })
      assert.strictEqual(logout.status, 204)
      assert.match(logout.setCookies[0]!, /^__Host-gatehouse_session=;.*Secure/)
    }), { timeout: 20_000 })

  it.effect("behind a trusted proxy, X-Forwarded-Proto https gives the HTTPS cookie", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ trustedProxies: ["127.0.0.1/32"] })
      const response = yield* pair(server, {
        headers: { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https" }
      })
      assert.match(response.setCookies[0]!, /^__Host-gatehouse_session=.*; Secure/)
      assert.strictEqual(response.json.session.client.ip, "203.0.113.7")
    }))

  it.effect("from an untrusted peer, forwarded headers are ignored", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const response = yield* pair(server, {
        headers: { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https" }
      })
      assert.match(response.setCookies[0]!, new RegExp(`^gatehouse_session_${server.port}=`))
      assert.notMatch(response.setCookies[0]!, /Secure/)
      assert.strictEqual(response.json.session.client.ip, "127.0.0.1")
    }))

  it.effect("remote-reachable: Secure even over plain HTTP", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ policy: "remote-reachable" })
      const response = yield* pair(server)
      assert.match(response.setCookies[0]!, new RegExp(`^gatehouse_session_${server.port}=.*; Secure`))
      // No loopback Host guard on a remote policy.
      assert.strictEqual(
        (yield* request(server.port, { path: "/api/auth/session", host: "gatehouse.example" })).status,
        200
      )
    }))
})

describe("rate limits and addresses", () => {
  it.effect("behind a trusted proxy, each forwarded client has its own failure budget", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ trustedProxies: ["127.0.0.1"], rateLimit: { capacity: 2 } })
      const fail = (client: string) =>
        postJson(server.port, "/api/auth/bootstrap", { credential: "0000-0000-0000-0000" }, {
          "x-forwarded-for": client
        })
      assert.strictEqual((yield* fail("198.51.100.1")).status, 401)
      assert.strictEqual((yield* fail("198.51.100.1")).status, 401)
      assert.strictEqual((yield* fail("198.51.100.1")).status, 429)
      assert.strictEqual((yield* fail("198.51.100.2")).status, 401)
    }))

  it.effect("IPv6 clients share a budget per /64; another /64 has its own", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ trustedProxies: ["127.0.0.1"], rateLimit: { capacity: 2 } })
      const fail = (client: string) =>
        postJson(server.port, "/api/auth/bootstrap", { credential: "0000-0000-0000-0000" }, {
          "x-forwarded-for": client
        })
      assert.strictEqual((yield* fail("2001:db8:1:2::1")).status, 401)
      assert.strictEqual((yield* fail("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).status, 401)
      // A fresh address in the same /64 is no fresh budget.
      assert.strictEqual((yield* fail("2001:db8:1:2::3")).status, 429)
      assert.strictEqual((yield* fail("2001:db8:1:3::1")).status, 401)
    }))

  it.effect("without trust, a spoofed X-Forwarded-For does not buy a fresh budget", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 2 } })
      const fail = (client: string) =>
        postJson(server.port, "/api/auth/bootstrap", { credential: "0000-0000-0000-0000" }, {
          "x-forwarded-for": client
        })
      assert.strictEqual((yield* fail("198.51.100.1")).status, 401)
      assert.strictEqual((yield* fail("198.51.100.2")).status, 401)
      assert.strictEqual((yield* fail("198.51.100.3")).status, 429)
    }))
})

describe("the Host guard behind a trusted proxy", () => {
  it.effect("checks the raw Host: X-Forwarded-Host cannot vouch for a foreign one", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ trustedProxies: ["127.0.0.1"] })
      const forged = yield* request(server.port, {
        path: "/api/auth/session",
        host: "evil.example",
        headers: { "x-forwarded-for": "198.51.100.1", "x-forwarded-host": "localhost" }
      })
      assert.strictEqual(forged.status, 403)
      assert.deepStrictEqual((forged.json as any).error, {
        code: "forbidden",
        message: "This host name is not allowed"
      })
      // A loopback raw Host passes; what the proxy forwards is then the request's Host.
      const proxied = yield* request(server.port, {
        path: "/api/auth/session",
        host: "localhost",
        headers: { "x-forwarded-for": "198.51.100.1", "x-forwarded-host": "app.example" }
      })
      assert.strictEqual(proxied.status, 200)
    }))
})
