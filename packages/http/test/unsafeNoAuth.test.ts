/**
 * `unsafe-no-auth` stays a local development switch: on a loopback bind the DNS-rebinding Host
 * guard and the Origin check of unsafe methods stay on, and nothing that would outlive the mode
 * (a pairing link, an MCP credential) can be minted in it.
 */
import { assert, describe, it } from "@effect/vitest"
import { jsonHeaders, request } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { startServer } from "./harness.ts"

describe("unsafe-no-auth on a loopback bind", () => {
  it.live("keeps the Host guard: a rebinding name is refused before any route", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ policy: "unsafe-no-auth" })
      const own = yield* request(server.port, { path: "/api/hello" })
      assert.strictEqual(own.status, 200, own.text)
      const rebound = yield* request(server.port, { path: "/api/hello", host: `rebind.example:${server.port}` })
      assert.strictEqual(rebound.status, 403)
      assert.strictEqual(rebound.json.error.code, "forbidden")
    })))

  it.live("keeps the Origin check on unsafe methods", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ policy: "unsafe-no-auth" })
      const foreign = yield* request(server.port, {
        method: "POST",
        path: "/api/auth/pairing-links",
        headers: { ...jsonHeaders, origin: "https://evil.example" },
        body: JSON.stringify({ scopes: ["admin"], ttlSeconds: 604800 })
      })
      assert.strictEqual(foreign.status, 403)
      assert.strictEqual(foreign.json.error.code, "origin_not_allowed")
      assert.strictEqual((yield* server.grants.list).length, 0)
    })))

  it.live("mints no pairing link and no MCP credential, even from its own origin", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ policy: "unsafe-no-auth" })
      const link = yield* request(server.port, {
        method: "POST",
        path: "/api/auth/pairing-links",
        headers: { ...jsonHeaders, origin: server.origin },
        body: JSON.stringify({ scopes: ["admin"] })
      })
      assert.strictEqual(link.status, 403, link.text)
      assert.strictEqual(link.json.error.code, "forbidden")
      assert.include(link.json.error.message, "unsafe-no-auth")
      const mcp = yield* request(server.port, {
        method: "POST",
        path: "/api/auth/mcp-credentials",
        headers: { ...jsonHeaders, origin: server.origin },
        body: JSON.stringify({ threadId: "t", providerInstanceId: "p" })
      })
      assert.strictEqual(mcp.status, 403, mcp.text)
      assert.strictEqual((yield* server.grants.list).length, 0)
      assert.strictEqual(yield* server.mcp.count, 0)
    })))
})
