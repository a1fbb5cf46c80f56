/**
 * The smaller limits of issue 23 item 6, over loopback against the reference server: the cap on
 * open pairing links (409) and the paginated list, the nesting limit on every route that reads a
 * JSON body (a 5 000-deep array was a 500 with a stack trace), and `gatehouse pair` granting the
 * standard bundle unless `--admin` is given.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Support from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import { GatehouseServer } from "../src/index.ts"
import { gatehouse, pairWith, request } from "./helpers.ts"

const start = Effect.gen(function*() {
  const stateDir = yield* Support.tempDirectory
  const context = yield* Layer.build(GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir }))
  const services = GatehouseServer.services(context)
  const admin = Redacted.value(
    (yield* services.sessions.issue({
      subject: "owner",
      scopes: ["read:hello", "write:hello", "read:runs", "write:tasks", "read:access", "write:access"],
      method: "pairing"
    })).token
  )
  return { ...services, stateDir, origin: services.info.baseUrl, port: services.info.port, admin }
})

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

describe("pairing links", () => {
  it.live("at most 100 open links: the next is 409 too_many_pairing_links; revoking one makes room", () =>
    Effect.gen(function*() {
      const server = yield* start
      const headers = Support.bearer(server.admin)
      const create = request(`${server.origin}/api/auth/pairing-links`, { method: "POST", headers, body: {} })
      const ids: Array<string> = []
      for (let i = 0; i < 100; i++) {
        const created = yield* create
        assert.strictEqual(created.status, 201, created.text)
        ids.push(created.json.id)
      }
      const refused = yield* create
      assert.strictEqual(refused.status, 409, refused.text)
      assert.strictEqual(refused.json.error.code, "too_many_pairing_links")
      assert.include(refused.json.error.message, "100 open pairing links")
      // Links the CLI makes are not counted against the sessions' cap (and are not refused).
      const cli = yield* gatehouse(["pair", "--state-dir", server.stateDir, "--url", server.origin])
      assert.strictEqual(cli.code, 0, cli.stderr)

      const revoked = yield* request(`${server.origin}/api/auth/pairing-links/${ids[0]}`, {
        method: "DELETE",
        headers
      })
      assert.strictEqual(revoked.json.revoked, true)
      assert.strictEqual((yield* create).status, 201)
      assert.strictEqual((yield* create).status, 409)
    }))

  it.live("the list is paginated: 50 by default, limit up to 100, an opaque cursor with no code in it", () =>
    Effect.gen(function*() {
      const server = yield* start
      const headers = Support.bearer(server.admin)
      const codes: Array<string> = []
      for (let i = 0; i < 57; i++) {
        const created = yield* request(`${server.origin}/api/auth/pairing-links`, {
          method: "POST",
          headers,
          body: { label: `link ${i}` }
        })
        assert.strictEqual(created.status, 201, created.text)
        codes.push(created.json.credential.replaceAll("-", ""))
      }
      const list = (query: string) => request(`${server.origin}/api/auth/pairing-links${query}`, { headers })

      const first = yield* list("")
      assert.strictEqual(first.status, 200, first.text)
      assert.strictEqual(first.json.links.length, 50)
      assert.isString(first.json.nextCursor)
      for (const code of codes) assert.notInclude(Buffer.from(first.json.nextCursor, "base64url").toString(), code)
      const second = yield* list(`?cursor=${first.json.nextCursor}`)
      assert.strictEqual(second.json.links.length, 7)
      assert.isUndefined(second.json.nextCursor)
      const labels = [...first.json.links, ...second.json.links].map((link: { label: string }) => link.label)
      assert.deepStrictEqual(labels, Array.from({ length: 57 }, (_, i) => `link ${i}`))

      // Walking by 10 gives the same links, in the same order.
      const walked: Array<string> = []
      let cursor: string | undefined
      for (let page = 0; page < 10; page++) {
        const got = yield* list(`?limit=10${cursor === undefined ? "" : `&cursor=${cursor}`}`)
        assert.isAtMost(got.json.links.length, 10)
        walked.push(...got.json.links.map((link: { label: string }) => link.label))
        cursor = got.json.nextCursor
        if (cursor === undefined) break
      }
      assert.deepStrictEqual(walked, labels)

      assert.strictEqual((yield* list("?limit=100")).json.links.length, 57)
      for (const bad of ["?limit=0", "?limit=101", "?limit=ten", "?limit=-1", "?cursor=nope!", "?cursor=AAAA"]) {
        const refused = yield* list(bad)
        assert.strictEqual(refused.status, 400, bad)
        assert.strictEqual(refused.json.error.code, "invalid_request", bad)
      }
    }))
})

describe("the JSON nesting limit", () => {
  it.live("every route that reads a JSON body refuses more than 64 levels with 400 invalid_request", () =>
    Effect.gen(function*() {
      const server = yield* start
      const minted = yield* request(`${server.origin}/api/auth/mcp-credentials`, {
        method: "POST",
        headers: Support.bearer(server.admin),
        body: { threadId: "thread-1", providerInstanceId: "agent-a" }
      })
      assert.strictEqual(minted.status, 201, minted.text)
      const admin = Effect.succeed(`Bearer ${server.admin}`)
      // Logout ends the session it is called with whenever it accepts the body: a fresh one each time.
      const fresh = Effect.map(
        server.sessions.issue({ subject: "owner", scopes: ["read:hello", "write:access"], method: "pairing" }),
        ({ token }) => `Bearer ${Redacted.value(token)}`
      )
      const routes: ReadonlyArray<readonly [string, Effect.Effect<string | undefined, unknown>]> = [
        ["/api/auth/bootstrap", Effect.undefined],
        ["/api/auth/bootstrap/bearer", Effect.undefined],
        ["/api/auth/logout", fresh],
        ["/api/auth/ws-ticket", admin],
        ["/api/auth/pairing-links", admin],
        ["/api/auth/mcp-credentials", admin],
        ["/mcp", Effect.succeed(minted.json.authorizationHeader)],
        // Last: the bodies it accepts revoke every other session (the admin's, the MCP credential's).
        ["/api/auth/sessions/revoke-others", fresh]
      ]
      const post = (path: string, credential: Effect.Effect<string | undefined, unknown>, body: string) =>
        Effect.flatMap(credential, (authorization) =>
          Support.request(server.port, {
            method: "POST",
            path,
            headers: {
              ...Support.jsonHeaders,
              origin: server.origin,
              ...(authorization === undefined ? {} : { authorization })
            },
            body
          }))
      for (const [path, authorization] of routes) {
        for (
          const body of [nested(65), nested(5_000), `{"a":${nested(64)}}`, `{"s":"[[[[","v":${nested(70)}}`]
        ) {
          const refused = yield* post(path, authorization, body)
          assert.strictEqual(refused.status, 400, `${path}: ${refused.text}`)
          assert.strictEqual(refused.json.error.code, "invalid_request", path)
          assert.include(refused.json.error.message, "nests deeper than 64 levels", path)
        }
        // 64 levels, or brackets inside strings, are not refused for their nesting.
        for (const body of [nested(64), `{"s":"${"[".repeat(100)}"}`]) {
          const shallow = yield* post(path, authorization, body)
          assert.notInclude(shallow.text, "nests deeper", path)
          assert.isBelow(shallow.status, 500, path)
        }
      }
    }))
})

describe("gatehouse pair", () => {
  it.live("grants the standard bundle by default, the administrative one with --admin, and says which", () =>
    Effect.gen(function*() {
      const server = yield* start
      const scopesOf = (code: string) =>
        Effect.gen(function*() {
          const paired = yield* pairWith(server.origin, code)
          const state = yield* request(`${server.origin}/api/auth/session`, { headers: Support.bearer(paired.token) })
          return [...state.json.session.scopes].sort()
        })
      const codeOf = (stdout: string) => /\/pair#token=([0-9A-Z]{16})$/m.exec(stdout)![1]!

      const plain = yield* gatehouse(["pair", "--state-dir", server.stateDir, "--url", server.origin])
      assert.strictEqual(plain.code, 0, plain.stderr)
      assert.include(plain.stdout, "Scopes: read:hello write:hello read:runs write:tasks (the standard bundle")
      assert.deepStrictEqual(yield* scopesOf(codeOf(plain.stdout)), [
        "read:hello",
        "read:runs",
        "write:hello",
        "write:tasks"
      ])

      const admin = yield* gatehouse(["pair", "--state-dir", server.stateDir, "--url", server.origin, "--admin"])
      assert.strictEqual(admin.code, 0, admin.stderr)
      assert.include(
        admin.stdout,
        "Scopes: read:hello write:hello read:runs write:tasks read:access write:access (the administrative bundle)"
      )
      assert.deepStrictEqual(yield* scopesOf(codeOf(admin.stdout)), [
        "read:access",
        "read:hello",
        "read:runs",
        "write:access",
        "write:hello",
        "write:tasks"
      ])

      const named = yield* gatehouse([
        "pair",
        "--state-dir",
        server.stateDir,
        "--url",
        server.origin,
        "--scopes",
        "read:hello,read:access"
      ])
      assert.strictEqual(named.code, 0, named.stderr)
      assert.include(named.stdout, "Scopes: read:hello read:access\n")
      assert.deepStrictEqual(yield* scopesOf(codeOf(named.stdout)), ["read:access", "read:hello"])

      const both = yield* gatehouse(["pair", "--state-dir", server.stateDir, "--admin", "--scopes", "read:hello"])
      assert.strictEqual(both.code, 1)
      assert.include(both.stderr, "--admin and --scopes cannot be given together")
    }))
})
