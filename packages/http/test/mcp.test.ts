import { assert, describe, it } from "@effect/vitest"
import { postJson, request } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { adminSession, startServer, type TestServer } from "./harness.ts"

const challenge = (server: TestServer) =>
  `resource_metadata="http://127.0.0.1:${server.port}/.well-known/oauth-protected-resource/mcp"`

const callMcp = (server: TestServer, headers: Record<string, string> = {}, path = "/mcp") =>
  request(server.port, {
    method: "POST",
    path,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
  })

/** A credential minted over HTTP by an administrative session. */
const mint = (server: TestServer, threadId = "thread-1", providerInstanceId = "provider-1") =>
  Effect.gen(function*() {
    const admin = yield* adminSession(server)
    const response = yield* postJson(server.port, "/api/auth/mcp-credentials", { threadId, providerInstanceId }, {
      authorization: `Bearer ${admin.token}`
    })
    assert.strictEqual(response.status, 201, response.text)
    return response.json as { endpoint: string; authorizationHeader: string; expiresAt: number }
  })

describe("MCP credentials over HTTP", () => {
  it.effect("mint (write:access), then /mcp with the header answers with the thread", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const issued = yield* mint(server)
      assert.strictEqual(issued.endpoint, `http://127.0.0.1:${server.port}/mcp`)
      assert.match(issued.authorizationHeader, /^Bearer [A-Za-z0-9_-]{43}$/)
      assert.strictEqual(issued.expiresAt, 30 * 24 * 3600 * 1000)
      const response = yield* callMcp(server, { authorization: issued.authorizationHeader })
      assert.strictEqual(response.status, 200, response.text)
      assert.deepStrictEqual(response.json, { threadId: "thread-1" })
    }))

  it.effect("minting needs write:access and grants no capability the caller lacks", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const reader = yield* adminSession(server, ["read:hello"])
      const refused = yield* postJson(server.port, "/api/auth/mcp-credentials", {
        threadId: "t",
        providerInstanceId: "p"
      }, {
        authorization: `Bearer ${reader.token}`
      })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "insufficient_scope")
      const admin = yield* adminSession(server, ["write:access"])
      const tooMuch = yield* postJson(server.port, "/api/auth/mcp-credentials", {
        threadId: "t",
        providerInstanceId: "p",
        capabilities: ["write:hello"]
      }, { authorization: `Bearer ${admin.token}` })
      assert.strictEqual(tooMuch.status, 403)
      const malformed = yield* postJson(server.port, "/api/auth/mcp-credentials", { threadId: "" }, {
        authorization: `Bearer ${admin.token}`
      })
      assert.strictEqual(malformed.status, 400)
      assert.strictEqual(yield* server.mcp.count, 0)
    }))

  it.effect("no header, a wrong token, a revoked token and a query token: 401 with the resource_metadata challenge", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const none = yield* callMcp(server)
      assert.strictEqual(none.status, 401)
      assert.strictEqual(none.headers["www-authenticate"], `Bearer ${challenge(server)}`)

      const wrong = yield* callMcp(server, { authorization: `Bearer ${"A".repeat(43)}` })
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(wrong.headers["www-authenticate"], `Bearer error="invalid_token", ${challenge(server)}`)

      const first = yield* mint(server)
      const second = yield* mint(server) // same thread: the first is revoked
      assert.strictEqual((yield* callMcp(server, { authorization: first.authorizationHeader })).status, 401)
      assert.strictEqual((yield* callMcp(server, { authorization: second.authorizationHeader })).status, 200)
      yield* server.mcp.revokeThread("thread-1")
      const revoked = yield* callMcp(server, { authorization: second.authorizationHeader })
      assert.strictEqual(revoked.status, 401)
      assert.include(revoked.headers["www-authenticate"] as string, challenge(server))

      const third = yield* mint(server)
      const token = third.authorizationHeader.slice("Bearer ".length)
      for (const path of [`/mcp?access_token=${token}`, `/mcp?token=${token}`]) {
        const viaQuery = yield* callMcp(server, {}, path)
        assert.strictEqual(viaQuery.status, 401, path)
        assert.include(viaQuery.headers["www-authenticate"] as string, challenge(server))
      }
      // The same credential in the header still works: the query attempts did not touch it.
      assert.strictEqual((yield* callMcp(server, { authorization: third.authorizationHeader })).status, 200)
    }))

  it.effect("a foreign Origin is 403; a foreign Host is 403 (DNS rebinding)", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const issued = yield* mint(server)
      const foreign = yield* callMcp(server, {
        authorization: issued.authorizationHeader,
        origin: "https://evil.example"
      })
      assert.strictEqual(foreign.status, 403)
      assert.strictEqual(foreign.json.error.code, "origin_not_allowed")
      const rebound = yield* request(server.port, {
        method: "POST",
        path: "/mcp",
        host: "evil.example",
        headers: { authorization: issued.authorizationHeader, "content-type": "application/json" },
        body: "{}"
      })
      assert.strictEqual(rebound.status, 403)
    }))

  it.effect("the protected-resource metadata document (RFC 9728)", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      for (const path of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
        const response = yield* request(server.port, { path })
        assert.strictEqual(response.status, 200, path)
        assert.deepStrictEqual(response.json, {
          resource: `http://127.0.0.1:${server.port}/mcp`,
          bearer_methods_supported: ["header"],
          resource_name: "Gatehouse MCP endpoint",
          authorization_servers: []
        })
      }
    }))

  // The 31-day slide is tested on the registry itself (core); here, use over HTTP keeps it alive.
  it.effect("a credential used every 20 minutes stays valid for hours; a quiet one dies (TestClock)", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const busy = yield* mint(server, "busy")
      const quiet = yield* mint(server, "quiet")
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("20 minutes")
        assert.strictEqual((yield* callMcp(server, { authorization: busy.authorizationHeader })).status, 200)
      }
      assert.strictEqual((yield* callMcp(server, { authorization: quiet.authorizationHeader })).status, 401)
    }))

  it.effect("an unused credential is valid 30 minutes minus 1 ms after issue, dead at 30 minutes", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const first = yield* mint(server, "a")
      const second = yield* mint(server, "b")
      yield* TestClock.adjust(30 * 60_000 - 1)
      assert.strictEqual((yield* callMcp(server, { authorization: first.authorizationHeader })).status, 200)
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* callMcp(server, { authorization: second.authorizationHeader })).status, 401)
    }))
})
