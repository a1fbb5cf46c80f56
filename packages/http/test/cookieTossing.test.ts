/**
 * Cookie tossing between local ports: cookies are not isolated by port, so a page served from any
 * other 127.0.0.1 port can set `gatehouse_session_<port>` with a longer `Path`, which the browser
 * then sends first. A session cookie name that comes twice authenticates nothing, and the
 * response expires it on `/` and on every prefix of the request's path.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, postJson, request } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as RequestInfo from "../src/RequestInfo.ts"
import { adminSession, startServer, type TestServer } from "./harness.ts"

const name = (server: TestServer) => `gatehouse_session_${server.port}`

/** The paths a response's `Set-Cookie` lines expire `cookie` on. */
const expiredPaths = (setCookies: ReadonlyArray<string>, cookie: string) =>
  setCookies
    .filter((line) => line.startsWith(`${cookie}=;`) && /Max-Age=0/i.test(line))
    .map((line) => /Path=([^;]+)/i.exec(line)?.[1])
    .sort()

describe("RequestInfo.cookieOccurrences", () => {
  it("counts exactly the pairs of that name, whatever else the header holds", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(fc.constant("gh"), fc.constant("gh2"), fc.constant("xgh"), fc.string({ maxLength: 6 })),
            fc.string({ maxLength: 12 })
          ),
          { maxLength: 12 }
        ),
        (pairs) => {
          const clean = pairs.filter(([key, value]) => !/[;=]/.test(key) && !value.includes(";"))
          const header = clean.map(([key, value]) => `${key}=${value}`).join("; ")
          const expected = clean.filter(([key]) => key.trim() === "gh").length
          return RequestInfo.cookieOccurrences(header, "gh") === expected
        }
      )
    ))

  it("is total on hostile headers", () =>
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (header) => {
        const count = RequestInfo.cookieOccurrences(header, "gh")
        return Number.isInteger(count) && count >= 0
      })
    ))
})

describe("RequestInfo.cookiePathsFor", () => {
  it("is `/` and prefixes of the path only, each safe inside a Path attribute", () =>
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (url) => {
        const paths = RequestInfo.cookiePathsFor(url)
        const normalized = `/${url.split("?")[0]!.split("/").filter((part) => part.length > 0).join("/")}/`
        return paths[0] === "/" && paths.length <= 17 &&
          paths.every((candidate) => /^\/[A-Za-z0-9._~%+\-/]*$/.test(candidate)) &&
          paths.every((candidate) => normalized.startsWith(candidate.endsWith("/") ? candidate : `${candidate}/`))
      })
    ))

  it("covers a cookie tossed on /api, /api/ or /api/auth", () => {
    assert.deepStrictEqual(RequestInfo.cookiePathsFor("/api/auth/session?x=1"), [
      "/",
      "/api",
      "/api/",
      "/api/auth",
      "/api/auth/",
      "/api/auth/session",
      "/api/auth/session/"
    ])
  })
})

describe("a session cookie name sent twice", () => {
  it.effect("authenticates neither cookie, even when both are valid sessions, and expires the name on every path", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const owner = yield* adminSession(server)
      const attacker = yield* adminSession(server, ["read:hello"])
      const cookie = name(server)
      for (
        const header of [
          `${cookie}=junk; ${owner.cookie}`,
          `${attacker.cookie}; ${owner.cookie}`,
          `${owner.cookie}; ${attacker.cookie}`
        ]
      ) {
        const hello = yield* request(server.port, { path: "/api/hello", headers: { cookie: header } })
        assert.strictEqual(hello.status, 401, header)
        assert.strictEqual(hello.json.error.code, "invalid_credential")
        assert.include(hello.json.error.message, "another page")
        assert.deepStrictEqual(expiredPaths(hello.setCookies, cookie), [
          "/",
          "/api",
          "/api/",
          "/api/hello",
          "/api/hello/"
        ])

        const state = yield* request(server.port, { path: "/api/auth/session", headers: { cookie: header } })
        assert.strictEqual(state.status, 200)
        assert.strictEqual(state.json.authenticated, false)
        assert.strictEqual(state.json.problem, "ambiguous_cookie")
        assert.includeMembers(expiredPaths(state.setCookies, cookie), ["/", "/api", "/api/", "/api/auth", "/api/auth/"])
      }
      // Logging out with two cookies revokes nobody (it used to revoke the attacker's session and
      // clear the owner's cookie).
      const logout = yield* postJson(server.port, "/api/auth/logout", {}, {
        cookie: `${attacker.cookie}; ${owner.cookie}`,
        origin: server.origin
      })
      assert.strictEqual(logout.status, 401)
      for (const session of [owner, attacker]) {
        const hello = yield* request(server.port, { path: "/api/hello", headers: bearer(session.token) })
        assert.strictEqual(hello.status, 200, "still live")
      }
      // One cookie of the name is fine, and a bearer token beside two cookies still works.
      const single = yield* request(server.port, { path: "/api/hello", headers: { cookie: owner.cookie } })
      assert.strictEqual(single.status, 200)
      assert.deepStrictEqual(single.setCookies, [])
      const withBearer = yield* request(server.port, {
        path: "/api/hello",
        headers: { cookie: `${cookie}=junk; ${owner.cookie}`, ...bearer(owner.token) }
      })
      assert.strictEqual(withBearer.status, 200)
    }))

  it.effect("does not count against the address's budget: a tossed cookie locks nobody out", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 2 } })
      const owner = yield* adminSession(server)
      for (let i = 0; i < 5; i++) {
        const response = yield* request(server.port, {
          path: "/api/hello",
          headers: { cookie: `${name(server)}=junk; ${owner.cookie}` }
        })
        assert.strictEqual(response.status, 401)
      }
      const fixed = yield* request(server.port, { path: "/api/hello", headers: { cookie: owner.cookie } })
      assert.strictEqual(fixed.status, 200)
    }))
})
