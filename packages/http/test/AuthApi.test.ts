/**
 * The wire format and the `AuthApi` Schemas cannot drift: every response of a real server (over
 * loopback) decodes with the Schema of its route, and hostile bodies are refused by the request
 * Schemas with a 400, never a 5xx.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, jsonHeaders, postJson, request } from "@gatehouse-auth/testing/support"
import { Effect, Redacted, Schema } from "effect"
import * as fc from "fast-check"
import * as AuthApi from "../src/AuthApi.ts"
import { adminSession, startServer } from "./harness.ts"

const decodes = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, body: unknown, what: string) => {
  const result = Schema.decodeUnknownExit(schema)(body)
  assert.isTrue(result._tag === "Success", `${what}: ${JSON.stringify(body)}`)
}

describe("AuthApi", () => {
  it.effect("every /api/auth/* response decodes with its Schema", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server)
      const auth = bearer(admin.token)

      const anonymous = yield* request(server.port, { path: "/api/auth/session" })
      decodes(AuthApi.SessionStateResponse, anonymous.json, "anonymous session state")
      const known = yield* request(server.port, { path: "/api/auth/session", headers: auth })
      decodes(AuthApi.SessionStateResponse, known.json, "session state")
      assert.isDefined(known.json.session)

      const first = yield* server.grants.issue({ subject: "owner", scopes: ["read:hello"] })
      const cookieFlow = yield* postJson(server.port, "/api/auth/bootstrap", {
        credential: Redacted.value(first.credential)
      })
      assert.strictEqual(cookieFlow.status, 200)
      decodes(AuthApi.BootstrapResponse, cookieFlow.json, "bootstrap")

      const second = yield* server.grants.issue({ subject: "owner", scopes: ["read:hello"] })
      const bearerFlow = yield* postJson(server.port, "/api/auth/bootstrap/bearer", {
        credential: Redacted.value(second.credential),
        client: { label: "cli", os: "Linux" }
      })
      assert.strictEqual(bearerFlow.status, 200)
      decodes(AuthApi.BearerBootstrapResponse, bearerFlow.json, "bearer bootstrap")

      const ticket = yield* request(server.port, { method: "POST", path: "/api/auth/ws-ticket", headers: auth })
      decodes(AuthApi.WebSocketTicketResponse, ticket.json, "ws ticket")

      const list = yield* request(server.port, { path: "/api/auth/sessions", headers: auth })
      decodes(AuthApi.SessionListResponse, list.json, "session list")
      assert.isAtLeast(list.json.sessions.length, 3)

      const link = yield* postJson(server.port, "/api/auth/pairing-links", { label: "phone" }, auth)
      assert.strictEqual(link.status, 201)
      decodes(AuthApi.PairingLinkResponse, link.json, "pairing link")
      const links = yield* request(server.port, { path: "/api/auth/pairing-links", headers: auth })
      decodes(AuthApi.PairingLinkListResponse, links.json, "pairing link list")

      const revokedLink = yield* request(server.port, {
        method: "DELETE",
        path: `/api/auth/pairing-links/${link.json.id}`,
        headers: auth
      })
      decodes(AuthApi.RevokeResponse, revokedLink.json, "revoke link")
      const other = list.json.sessions.find((session: AuthApi.SessionView) => session.current !== true)
      const revoked = yield* request(server.port, {
        method: "DELETE",
        path: `/api/auth/sessions/${other.id}`,
        headers: auth
      })
      decodes(AuthApi.RevokeResponse, revoked.json, "revoke session")
      assert.isTrue(revoked.json.revoked)

      const mcp = yield* postJson(server.port, "/api/auth/mcp-credentials", {
        threadId: "t1",
        providerInstanceId: "p1"
      }, auth)
      assert.strictEqual(mcp.status, 201)
      decodes(AuthApi.McpCredentialResponse, mcp.json, "mcp credential")
      const mcpList = yield* request(server.port, { path: "/api/auth/mcp-credentials", headers: auth })
      decodes(AuthApi.McpCredentialListResponse, mcpList.json, "mcp credential list")
      const mcpRevoked = yield* request(server.port, {
        method: "DELETE",
        path: `/api/auth/mcp-credentials/${mcp.json.id}`,
        headers: auth
      })
      decodes(AuthApi.RevokeResponse, mcpRevoked.json, "revoke mcp credential")
      assert.isTrue(mcpRevoked.json.revoked)

      const others = yield* request(server.port, {
        method: "POST",
        path: "/api/auth/sessions/revoke-others",
        headers: auth
      })
      decodes(AuthApi.RevokeOthersResponse, others.json, "revoke others")

      const refused = yield* request(server.port, { path: "/api/auth/sessions" })
      assert.strictEqual(refused.status, 401)
      decodes(AuthApi.ErrorResponse, refused.json, "error")
    }))

  it.effect("hostile bodies are a 400 from the request Schemas, never a 5xx", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ rateLimit: { capacity: 1_000_000 } })
      const admin = yield* adminSession(server)
      const bodies = fc.sample(fc.jsonValue({ maxDepth: 3 }), { numRuns: 60, seed: 42 })
      for (const body of bodies) {
        for (
          const [path, headers] of [
            ["/api/auth/bootstrap/bearer", {}],
            ["/api/auth/pairing-links", bearer(admin.token)],
            ["/api/auth/mcp-credentials", bearer(admin.token)]
          ] as const
        ) {
          const response = yield* request(server.port, {
            method: "POST",
            path,
            headers: { ...jsonHeaders, ...headers },
            body: JSON.stringify(body)
          })
          assert.isBelow(response.status, 500, `${path} ${JSON.stringify(body)}`)
          if (response.status === 400) decodes(AuthApi.ErrorResponse, response.json, "error")
        }
      }
    }))
})
