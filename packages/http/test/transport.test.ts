import { assert, describe, it } from "@effect/vitest"
import { bearer, cookiePair, postJson, request } from "@gatehouse-auth/testing/support"
import { Effect, Redacted } from "effect"
import { AuthOpenApi } from "../src/index.ts"
import { startServer, type TestServer } from "./harness.ts"

const code = (server: TestServer) =>
  Effect.map(
    server.grants.issue({ subject: "owner", scopes: ["read:hello", "read:access"] }),
    (issued) => Redacted.value(issued.credential)
  )

describe("session transport over HTTP", () => {
  it.effect("the cookie bootstrap makes a cookie session, the bearer bootstrap a bearer one; the list says which", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const viaCookie = yield* postJson(server.port, "/api/auth/bootstrap", { credential: yield* code(server) })
      assert.strictEqual(viaCookie.status, 200, viaCookie.text)
      assert.strictEqual(viaCookie.json.session.transport, "cookie")
      const viaBearer = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) })
      assert.strictEqual(viaBearer.status, 200, viaBearer.text)
      assert.strictEqual(viaBearer.json.session.transport, "bearer")
      // Lifetimes by transport: a bearer session's idle expiry is 30 days out, a cookie one's 7.
      const day = 24 * 3600 * 1000
      assert.approximately(viaBearer.json.session.expiresAt - viaBearer.json.session.createdAt, 30 * day, 1)
      assert.approximately(viaCookie.json.session.expiresAt - viaCookie.json.session.createdAt, 7 * day, 1)

      const listed = yield* request(server.port, {
        path: "/api/auth/sessions",
        headers: bearer(viaBearer.json.accessToken)
      })
      assert.strictEqual(listed.status, 200, listed.text)
      const byId = new Map(listed.json.sessions.map((each: any) => [each.id, each.transport]))
      assert.strictEqual(byId.get(viaCookie.json.session.id), "cookie")
      assert.strictEqual(byId.get(viaBearer.json.session.id), "bearer")

      const state = yield* request(server.port, {
        path: "/api/auth/session",
        headers: { cookie: cookiePair(viaCookie.setCookies[0]!) }
      })
      assert.strictEqual(state.json.session.transport, "cookie")
    }))

  it("the OpenAPI document describes the transport of a session", () => {
    const spec = AuthOpenApi.fromApi(AuthOpenApi.Api, { cookieName: "gatehouse_session_3773" }) as any
    const text = JSON.stringify(spec)
    assert.include(text, `"transport"`)
    assert.match(text, /"enum":\["cookie","bearer"\]/)
  })
})
