/**
 * The guest routes over loopback: every status of the contract, the cookie's attributes, the rate
 * limit, the Origin check, promotion on pairing, and hostile cookies and legacy tokens.
 */
import { assert, describe, it } from "@effect/vitest"
import { Ids, SignedToken } from "@gatehouse-auth/core"
import { bearer, cookiePair, jsonHeaders, postJson, request } from "@gatehouse-auth/testing/support"
import { Effect, Option, Redacted } from "effect"
import * as fc from "fast-check"
import { adminSession, startServer, type TestServer } from "./harness.ts"

const path = "/api/auth/guest-session"
const guestCookieName = (server: TestServer) => `gatehouse_guest_${server.port}`

const guestCookie = (server: TestServer, setCookies: ReadonlyArray<string>) =>
  setCookies.find((line) => line.startsWith(`${guestCookieName(server)}=`))

const cleared = (server: TestServer, setCookies: ReadonlyArray<string>) =>
  setCookies.some((line) => line.startsWith(`${guestCookieName(server)}=;`) && /Max-Age=0/i.test(line))

const post = (server: TestServer, body: unknown, headers: Record<string, string> = {}) =>
  postJson(server.port, path, body, headers)

/** A new guest through the route: its id, token and the `Cookie` header that carries it. */
const newGuest = (server: TestServer) =>
  Effect.map(post(server, {}), (response) => {
    assert.strictEqual(response.status, 200, response.text)
    return {
      id: response.json.guestId as string,
      token: response.json.token as string,
      cookie: cookiePair(guestCookie(server, response.setCookies)!)
    }
  })

const pairingCode = (server: TestServer) =>
  Effect.map(
    server.grants.issue({ subject: "owner", scopes: ["read:hello"] }),
    (issued) => Redacted.value(issued.credential)
  )

describe("POST /api/auth/guest-session", () => {
  it.effect("creates a guest: 200 with id, token and expiry, and an HttpOnly, SameSite=Lax, per-port cookie", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const response = yield* request(server.port, { method: "POST", path })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers["cache-control"], "no-store")
      assert.match(response.json.guestId, /^guest_/)
      assert.match(response.json.token, /^v1\./)
      // The server reads the test's clock (TestClock, at 0): the token lives 24 hours.
      assert.strictEqual(response.json.expiresAt, 24 * 3_600_000)
      const line = guestCookie(server, response.setCookies)!
      assert.match(line, /HttpOnly/i)
      assert.match(line, /SameSite=Lax/i)
      assert.match(line, /Path=\//)
      assert.match(line, /Max-Age=2592000/)
      assert.notMatch(line, /Secure/i)
      assert.notMatch(line, /Domain/i)
      // The cookie finds the same guest, and the answer sets it again (its lifetime slides).
      const again = yield* post(server, {}, { cookie: cookiePair(line) })
      assert.strictEqual(again.json.guestId, response.json.guestId)
      assert.strictEqual(cookiePair(guestCookie(server, again.setCookies)!), cookiePair(line))
      assert.strictEqual((yield* server.guests.list()).length, 1)
    }))

  it.effect("lookup_only: 204 and no cookie without a usable one; 200 with one", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const none = yield* post(server, { mode: "lookup_only" })
      assert.strictEqual(none.status, 204)
      assert.deepStrictEqual(none.setCookies, [])
      const unknown = yield* post(server, { mode: "lookup_only" }, {
        cookie: `${guestCookieName(server)}=${"A".repeat(43)}`
      })
      assert.strictEqual(unknown.status, 204)
      const guest = yield* newGuest(server)
      const found = yield* post(server, { mode: "lookup_only" }, { cookie: guest.cookie })
      assert.strictEqual(found.status, 200)
      assert.strictEqual(found.json.guestId, guest.id)
      assert.strictEqual((yield* server.guests.list()).length, 1)
    }))

  it.effect("a revoked guest: 403 guest_revoked and the cookie cleared, in either mode", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const guest = yield* newGuest(server)
      yield* server.guests.revoke(Ids.GuestId.make(guest.id))
      for (const mode of ["lookup_only", "lookup_or_create"]) {
        const response = yield* post(server, { mode }, { cookie: guest.cookie })
        assert.strictEqual(response.status, 403)
        assert.strictEqual(response.json.error.code, "guest_revoked")
        assert.isTrue(cleared(server, response.setCookies))
      }
    }))

  it.effect("400 for a legacy token over 4096 characters, 400 for a bad mode, 415 for a non-JSON body", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const long = yield* post(server, { legacyToken: "x".repeat(5000) })
      assert.strictEqual(long.status, 400)
      assert.strictEqual(long.json.error.code, "invalid_request")
      assert.strictEqual((yield* post(server, { mode: "create_many" })).status, 400)
      const text = yield* request(server.port, {
        method: "POST",
        path,
        headers: { "content-type": "text/plain" },
        body: "{}"
      })
      assert.strictEqual(text.status, 415)
      assert.strictEqual(text.json.error.code, "unsupported_media_type")
      assert.strictEqual((yield* server.guests.list()).length, 0)
    }))

  it.effect("rate limited per address with Retry-After; a guest found by its cookie costs nothing", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true, rateLimit: { capacity: 3 } })
      const guest = yield* newGuest(server)
      for (let i = 0; i < 10; i++) {
        assert.strictEqual((yield* post(server, {}, { cookie: guest.cookie })).status, 200)
      }
      yield* newGuest(server)
      yield* newGuest(server)
      const limited = yield* post(server, {})
      assert.strictEqual(limited.status, 429)
      assert.strictEqual(limited.json.error.code, "rate_limited")
      assert.isTrue(Number(limited.headers["retry-after"]) >= 1)
      assert.strictEqual((yield* server.guests.list()).length, 3)
    }))

  it.effect("a foreign Origin is refused (403) before anything is looked at", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const response = yield* post(server, {}, { origin: "https://evil.example" })
      assert.strictEqual(response.status, 403)
      assert.strictEqual(response.json.error.code, "origin_not_allowed")
      assert.deepStrictEqual(response.setCookies, [])
      assert.strictEqual((yield* post(server, {}, { origin: server.origin })).status, 200)
    }))

  it.effect("only the guest cookie is read: a session cookie or an unrelated one changes nothing", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const admin = yield* adminSession(server)
      const guest = yield* newGuest(server)
      const both = yield* post(server, {}, { cookie: `theme=dark; ${admin.cookie}; ${guest.cookie}` })
      assert.strictEqual(both.json.guestId, guest.id)
      const sessionOnly = yield* post(server, { mode: "lookup_only" }, { cookie: `${admin.cookie}; theme=dark` })
      assert.strictEqual(sessionOnly.status, 204)
    }))

  it.effect("a guest cookie sent twice is nobody's: lookup_only 204, and the name expired on the paths", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const guest = yield* newGuest(server)
      const response = yield* post(server, { mode: "lookup_only" }, {
        cookie: `${guestCookieName(server)}=${"B".repeat(43)}; ${guest.cookie}`
      })
      assert.strictEqual(response.status, 204)
      assert.isTrue(cleared(server, response.setCookies))
      assert.isTrue(response.setCookies.some((line) => line.includes("Path=/api/auth")))
    }))

  it.effect("a guest token is no session: /api/hello refuses it", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const guest = yield* newGuest(server)
      const hello = yield* request(server.port, { path: "/api/hello", headers: bearer(guest.token) })
      assert.strictEqual(hello.status, 401)
    }))

  it.effect("a legacy token re-binds its guest to a new cookie once, also from lookup_only", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const keyring = server.keyring
      const gid = Ids.newGuestId()
      const now = Date.now()
      const legacy = Redacted.value(
        yield* SignedToken.sign(keyring, { kind: "guest", gid, iat: now, exp: now + 3_600_000 })
      )
      const migrated = yield* post(server, { mode: "lookup_only", legacyToken: legacy })
      assert.strictEqual(migrated.status, 200)
      assert.strictEqual(migrated.json.guestId, gid)
      const cookie = cookiePair(guestCookie(server, migrated.setCookies)!)
      assert.strictEqual((yield* post(server, {}, { cookie })).json.guestId, gid)
      // Forged: a miss (204), never an error page.
      const forged = yield* post(server, { mode: "lookup_only", legacyToken: `${legacy.slice(0, -1)}x` })
      assert.strictEqual(forged.status, 204)
    }))

  it.effect("an unknown route next to it stays a JSON 404, and without `guests` the route is one too", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const unknown = yield* postJson(server.port, "/api/auth/guest-sessions", {})
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(unknown.json.error.code, "not_found")
      const off = yield* startServer()
      const missing = yield* post(off, {})
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.json.error.code, "not_found")
    }))

  it.effect("hostile cookies and legacy tokens: never a 5xx, and lookup_only never mints (fast-check)", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true, rateLimit: { capacity: 100_000 } })
      const guest = yield* newGuest(server)
      const cookieValue = fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        fc.constant(guest.cookie.split("=")[1]!.slice(0, 42) + "%"),
        fc.string({ unit: "grapheme-ascii", maxLength: 300 })
      )
      const legacy = fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.constant(guest.token),
        fc.constant(`${guest.token.slice(0, -3)}abc`),
        fc.string({ unit: "binary", maxLength: 4096 })
      )
      const samples = fc.sample(fc.tuple(fc.option(cookieValue), fc.option(legacy)), 150)
      for (const [cookie, legacyToken] of samples) {
        const safeCookie = cookie === null ? undefined : cookie.replace(/[\r\n;\u0000-\u001f\u007f-\uffff]/g, "")
        const response = yield* request(server.port, {
          method: "POST",
          path,
          headers: {
            ...jsonHeaders,
            ...(safeCookie === undefined ? {} : { cookie: `${guestCookieName(server)}=${safeCookie}` })
          },
          body: JSON.stringify({ mode: "lookup_only", ...(legacyToken === null ? {} : { legacyToken }) })
        })
        assert.isBelow(response.status, 500, `${JSON.stringify([safeCookie, legacyToken])}: ${response.text}`)
        assert.include([200, 204, 400], response.status)
        if (response.status === 200) assert.strictEqual(response.json.guestId, guest.id)
      }
      assert.strictEqual((yield* server.guests.list()).length, 1)
    }))
})

describe("POST /api/auth/guest-session/revoke", () => {
  it.effect("revokes the cookie's guest; the cookie is always cleared", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const guest = yield* newGuest(server)
      const first = yield* postJson(server.port, `${path}/revoke`, {}, { cookie: guest.cookie })
      assert.strictEqual(first.status, 200)
      assert.deepStrictEqual(first.json, { revoked: true })
      assert.isTrue(cleared(server, first.setCookies))
      const second = yield* postJson(server.port, `${path}/revoke`, {}, { cookie: guest.cookie })
      assert.deepStrictEqual(second.json, { revoked: false })
      assert.isTrue(cleared(server, second.setCookies))
      const none = yield* request(server.port, { method: "POST", path: `${path}/revoke` })
      assert.deepStrictEqual([none.status, none.json], [200, { revoked: false }])
      assert.isTrue(cleared(server, none.setCookies))
      assert.strictEqual((yield* post(server, {}, { cookie: guest.cookie })).status, 403)
    }))

  it.effect("revokes by guest bearer token too; a foreign Origin is refused", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true })
      const guest = yield* newGuest(server)
      const foreign = yield* postJson(server.port, `${path}/revoke`, {}, {
        cookie: guest.cookie,
        origin: "https://evil.example"
      })
      assert.strictEqual(foreign.status, 403)
      const byToken = yield* postJson(server.port, `${path}/revoke`, {}, bearer(guest.token))
      assert.deepStrictEqual(byToken.json, { revoked: true })
      assert.isTrue(Option.isSome(yield* server.guests.get(Ids.GuestId.make(guest.id))))
      assert.strictEqual((yield* post(server, {}, { cookie: guest.cookie })).status, 403)
    }))
})

describe("promotion on pairing", () => {
  for (const flow of ["cookie", "bearer"] as const) {
    it.effect(`pairing (${flow} flow) with a guest cookie calls the hook once, revokes the guest, clears its cookie`, () =>
      Effect.gen(function*() {
        const merged: Array<string> = []
        const server = yield* startServer({
          guests: true,
          promotion: { merge: (guestId, session) => Effect.sync(() => merged.push(`${guestId} ${session.sid}`)) }
        })
        const guest = yield* newGuest(server)
        const code = yield* pairingCode(server)
        const paired = yield* postJson(
          server.port,
          flow === "cookie" ? "/api/auth/bootstrap" : "/api/auth/bootstrap/bearer",
          { credential: code },
          { cookie: guest.cookie }
        )
        assert.strictEqual(paired.status, 200, paired.text)
        assert.isTrue(cleared(server, paired.setCookies))
        assert.deepStrictEqual(merged, [`${guest.id} ${paired.json.session.id}`])
        assert.strictEqual((yield* post(server, { mode: "lookup_only" }, { cookie: guest.cookie })).status, 403)
      }))
  }

  it.effect("a failing hook: the pairing succeeds, the guest and its cookie are kept", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ guests: true, promotion: { merge: () => Effect.fail("locked") } })
      const guest = yield* newGuest(server)
      const paired = yield* postJson(server.port, "/api/auth/bootstrap", { credential: yield* pairingCode(server) }, {
        cookie: guest.cookie
      })
      assert.strictEqual(paired.status, 200)
      assert.isFalse(cleared(server, paired.setCookies))
      const later = yield* post(server, { mode: "lookup_only" }, { cookie: guest.cookie })
      assert.strictEqual(later.json.guestId, guest.id)
    }))

  it.effect("pairing without a guest cookie touches no guest", () =>
    Effect.gen(function*() {
      const merged: Array<string> = []
      const server = yield* startServer({
        guests: true,
        promotion: { merge: (guestId) => Effect.sync(() => merged.push(guestId)) }
      })
      yield* newGuest(server)
      const paired = yield* postJson(server.port, "/api/auth/bootstrap", { credential: yield* pairingCode(server) })
      assert.strictEqual(paired.status, 200)
      assert.isFalse(cleared(server, paired.setCookies))
      assert.deepStrictEqual(merged, [])
    }))
})
