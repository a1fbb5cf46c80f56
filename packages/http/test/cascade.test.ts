/**
 * Revocation cascades over real HTTP: revoking a session (DELETE /api/auth/sessions/:id,
 * revoke-others, logout) revokes the pairing links and MCP credentials it made; and the MCP
 * credential list and revoke routes.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, postJson, request } from "@gatehouse-auth/testing/support"
import { Duration, Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { AuthApi } from "../src/index.ts"
import { adminSession, startServer, type TestServer } from "./harness.ts"

type Session = Effect.Success<ReturnType<typeof adminSession>>

const makeLink = (server: TestServer, by: Session) =>
  Effect.map(postJson(server.port, "/api/auth/pairing-links", {}, bearer(by.token)), (response) => {
    assert.strictEqual(response.status, 201, response.text)
    return response.json as AuthApi.PairingLinkResponse
  })

const listLinks = (server: TestServer, by: Session) =>
  Effect.map(
    request(server.port, { path: "/api/auth/pairing-links", headers: bearer(by.token) }),
    (response) => (response.json as AuthApi.PairingLinkListResponse).links.map((link) => link.id)
  )

const pairWith = (server: TestServer, link: AuthApi.PairingLinkResponse) =>
  postJson(server.port, "/api/auth/bootstrap/bearer", { credential: link.credential })

const mintMcp = (server: TestServer, by: Session, threadId = "thread-1") =>
  Effect.map(
    postJson(
      server.port,
      "/api/auth/mcp-credentials",
      { threadId, providerInstanceId: "provider-1" },
      bearer(by.token)
    ),
    (response) => {
      assert.strictEqual(response.status, 201, response.text)
      return Schema.decodeUnknownSync(AuthApi.McpCredentialResponse)(response.json)
    }
  )

const callMcp = (server: TestServer, authorization: string) =>
  Effect.map(
    request(server.port, {
      method: "POST",
      path: "/mcp",
      headers: { "content-type": "application/json", authorization },
      body: "{}"
    }),
    (response) => response.status
  )

/** The link is refused as a revoked grant is (401 invalid_credential) and is not listed. */
const assertLinkDead = (server: TestServer, link: AuthApi.PairingLinkResponse, lister: Session) =>
  Effect.gen(function*() {
    const refused = yield* pairWith(server, link)
    assert.strictEqual(refused.status, 401, refused.text)
    assert.strictEqual(refused.json.error.code, "invalid_credential")
    assert.notInclude(yield* listLinks(server, lister), link.id)
  })

describe("revocation cascades over HTTP", () => {
  it.effect("DELETE /api/auth/sessions/:id of A, from B: A's link and MCP credential are dead, B's live", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const a = yield* adminSession(server)
      const b = yield* adminSession(server)
      const linkA = yield* makeLink(server, a)
      const linkB = yield* makeLink(server, b)
      const mcpA = yield* mintMcp(server, a, "thread-a")
      const mcpB = yield* mintMcp(server, b, "thread-b")
      assert.sameMembers(yield* listLinks(server, b), [linkA.id, linkB.id])
      assert.strictEqual(yield* callMcp(server, mcpA.authorizationHeader), 200)

      const revoked = yield* request(server.port, {
        method: "DELETE",
        path: `/api/auth/sessions/${a.session.sid}`,
        headers: bearer(b.token)
      })
      assert.deepStrictEqual(revoked.json, { revoked: true })

      yield* assertLinkDead(server, linkA, b)
      assert.strictEqual(yield* callMcp(server, mcpA.authorizationHeader), 401)
      assert.strictEqual(yield* callMcp(server, mcpB.authorizationHeader), 200)
      assert.strictEqual((yield* pairWith(server, linkB)).status, 200)
    }))

  it.effect("logout revokes the links and MCP credentials of the session that logs out", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const a = yield* adminSession(server)
      const b = yield* adminSession(server)
      const link = yield* makeLink(server, a)
      const mcp = yield* mintMcp(server, a)
      const out = yield* postJson(server.port, "/api/auth/logout", {}, bearer(a.token))
      assert.strictEqual(out.status, 204)
      yield* assertLinkDead(server, link, b)
      assert.strictEqual(yield* callMcp(server, mcp.authorizationHeader), 401)
    }))

  it.effect("revoke-others revokes the links and MCP credentials of every other session, not the caller's", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const keep = yield* adminSession(server)
      const a = yield* adminSession(server)
      const linkA = yield* makeLink(server, a)
      const linkKeep = yield* makeLink(server, keep)
      const mcpA = yield* mintMcp(server, a, "thread-a")
      const mcpKeep = yield* mintMcp(server, keep, "thread-keep")
      const others = yield* postJson(server.port, "/api/auth/sessions/revoke-others", {}, bearer(keep.token))
      assert.deepStrictEqual(others.json, { revokedCount: 1 })
      yield* assertLinkDead(server, linkA, keep)
      assert.deepStrictEqual(yield* listLinks(server, keep), [linkKeep.id])
      assert.strictEqual(yield* callMcp(server, mcpA.authorizationHeader), 401)
      assert.strictEqual(yield* callMcp(server, mcpKeep.authorizationHeader), 200)
    }))

  it.effect("a session that already paired through a link outlives the revoke of the link's creator", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const a = yield* adminSession(server)
      const b = yield* adminSession(server)
      const link = yield* makeLink(server, a)
      const paired = yield* pairWith(server, link)
      assert.strictEqual(paired.status, 200, paired.text)
      yield* request(server.port, {
        method: "DELETE",
        path: `/api/auth/sessions/${a.session.sid}`,
        headers: bearer(b.token)
      })
      const hello = yield* request(server.port, { path: "/api/hello", headers: bearer(paired.json.accessToken) })
      assert.strictEqual(hello.status, 200, hello.text)
    }))

  it.effect("a revoke made behind the server's back (the store) ends the MCP credential within 500 ms", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const a = yield* adminSession(server)
      const mcp = yield* mintMcp(server, a)
      assert.isTrue(yield* server.sessionStore.remove(a.session.sid))
      yield* TestClock.adjust(Duration.millis(500))
      assert.strictEqual(yield* callMcp(server, mcp.authorizationHeader), 401)
    }))
})

describe("MCP credential list and revoke routes", () => {
  it.effect("GET lists every live credential with its creator, never a token; read:access required", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const admin = yield* adminSession(server)
      const issued = yield* mintMcp(server, admin, "thread-list")
      const token = issued.authorizationHeader.slice("Bearer ".length)
      const listed = yield* request(server.port, { path: "/api/auth/mcp-credentials", headers: bearer(admin.token) })
      assert.strictEqual(listed.status, 200, listed.text)
      assert.strictEqual(listed.headers["cache-control"], "no-store")
      assert.notInclude(listed.text, token)
      const body = Schema.decodeUnknownSync(AuthApi.McpCredentialListResponse)(listed.json)
      assert.strictEqual(body.credentials.length, 1)
      const [view] = body.credentials
      assert.deepStrictEqual(Object.keys(view!).sort(), [
        "absoluteExpiresAt",
        "capabilities",
        "createdAt",
        "createdBy",
        "expiresAt",
        "id",
        "lastUsedAt",
        "providerInstanceId",
        "threadId"
      ])
      assert.strictEqual(view!.id, issued.id)
      assert.strictEqual(view!.threadId, "thread-list")
      assert.strictEqual(view!.createdBy, admin.session.sid)
      assert.strictEqual(view!.absoluteExpiresAt, 90 * 24 * 3600 * 1000)

      const writer = yield* adminSession(server, ["write:access"])
      const refused = yield* request(server.port, { path: "/api/auth/mcp-credentials", headers: bearer(writer.token) })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "insufficient_scope")
      assert.strictEqual((yield* request(server.port, { path: "/api/auth/mcp-credentials" })).status, 401)
    }))

  it.effect("DELETE revokes by id (write:access required); unknown and malformed ids are revoked: false", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 100 } })
      const admin = yield* adminSession(server)
      const issued = yield* mintMcp(server, admin)
      const del = (id: string, token: string) =>
        request(server.port, { method: "DELETE", path: `/api/auth/mcp-credentials/${id}`, headers: bearer(token) })

      const reader = yield* adminSession(server, ["read:access"])
      const refused = yield* del(issued.id, reader.token)
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "insufficient_scope")
      assert.strictEqual(yield* callMcp(server, issued.authorizationHeader), 200)

      const writer = yield* adminSession(server, ["write:access"])
      const revoked = yield* del(issued.id, writer.token)
      assert.strictEqual(revoked.status, 200)
      assert.strictEqual(revoked.headers["cache-control"], "no-store")
      assert.deepStrictEqual(Schema.decodeUnknownSync(AuthApi.RevokeResponse)(revoked.json), { revoked: true })
      assert.strictEqual(yield* callMcp(server, issued.authorizationHeader), 401)
      assert.deepStrictEqual((yield* del(issued.id, writer.token)).json, { revoked: false })
      assert.deepStrictEqual((yield* del("mcp_nothing", writer.token)).json, { revoked: false })
      assert.deepStrictEqual((yield* del("not%20an%20id", writer.token)).json, { revoked: false })
      assert.deepStrictEqual((yield* del("x".repeat(65), writer.token)).json, { revoked: false })
    }))
})
