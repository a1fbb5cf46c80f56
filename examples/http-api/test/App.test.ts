/**
 * The example end to end over loopback, as a user would drive it: pair with a code (bearer flow and
 * cookie flow), call the endpoints, read the OpenAPI document.
 */
import { assert, describe, it } from "@effect/vitest"
import { BootstrapCredentialService } from "@gatehouse-auth/core"
import { bearer, cookiePair, postJson, request } from "@gatehouse-auth/testing/support"
import { Context, Effect, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import * as App from "../src/App.ts"

const start = Effect.gen(function*() {
  const context = yield* Layer.build(App.layer({ port: 0 }))
  const address = Context.get(context, HttpServer.HttpServer).address
  return {
    port: address._tag === "UnixPathAddress" ? 0 : address.port,
    grants: Context.get(context, BootstrapCredentialService.BootstrapCredentialService),
    instructions: yield* Effect.provideContext(App.pairingInstructions, context)
  }
})

describe("the http-api example", () => {
  it.effect("pairs with the printed code, then calls the endpoints with a bearer token", () =>
    Effect.gen(function*() {
      const { instructions, port } = yield* start
      assert.strictEqual((yield* request(port, { path: "/api/health" })).status, 200)
      const anonymous = yield* request(port, { path: "/api/notes" })
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(anonymous.json.error.code, "missing_credential")

      const code = /Pairing code: (\S+)/.exec(instructions)?.[1] ?? ""
      assert.include(instructions, `http://127.0.0.1:${port}/api/auth/bootstrap/bearer`)
      const paired = yield* postJson(port, "/api/auth/bootstrap/bearer", { credential: code })
      assert.strictEqual(paired.status, 200)
      const token: string = paired.json.accessToken

      const created = yield* postJson(port, "/api/notes", { text: "hello" }, bearer(token))
      assert.strictEqual(created.status, 201)
      assert.deepStrictEqual(created.json, { id: 1, text: "hello", author: "owner" })
      const listed = yield* request(port, { path: "/api/notes", headers: bearer(token) })
      assert.deepStrictEqual(listed.json, [{ id: 1, text: "hello", author: "owner" }])

      // The code had one use.
      const again = yield* postJson(port, "/api/auth/bootstrap/bearer", { credential: code })
      assert.strictEqual(again.status, 401)
    }))

  it.effect("a read-only session paired by cookie reads, and is refused writing with the missing scope", () =>
    Effect.gen(function*() {
      const { grants, port } = yield* start
      const issued = yield* grants.issue({ subject: "reader", scopes: ["read:notes"] })
      const paired = yield* postJson(port, "/api/auth/bootstrap", { credential: Redacted.value(issued.credential) })
      assert.strictEqual(paired.status, 200)
      const cookie = { cookie: cookiePair(paired.setCookies[0] ?? "") }
      assert.match(cookie.cookie, new RegExp(`^gatehouse_session_${port}=`))

      const listed = yield* request(port, { path: "/api/notes", headers: cookie })
      assert.strictEqual(listed.status, 200)
      assert.deepStrictEqual(listed.json, [])
      const refused = yield* postJson(port, "/api/notes", { text: "no" }, cookie)
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "insufficient_scope")
      assert.include(refused.json.error.message, "write:notes")
    }))

  it.effect("serves the OpenAPI document: the app's endpoints, their security, the /api/auth/* routes", () =>
    Effect.gen(function*() {
      const { port } = yield* start
      const spec = (yield* request(port, { path: "/openapi.json" })).json
      assert.strictEqual(spec.info.title, "Notes")
      assert.deepStrictEqual(spec.paths["/api/health"].get.security, [])
      assert.deepStrictEqual(spec.paths["/api/notes"].post.security, [
        { gatehouseCookie: ["write:notes"] },
        { gatehouseBearer: ["write:notes"] }
      ])
      assert.deepStrictEqual(spec.paths["/api/notes"].get.security, [
        { gatehouseCookie: ["read:notes"] },
        { gatehouseBearer: ["read:notes"] }
      ])
      assert.strictEqual(spec.components.securitySchemes.gatehouseCookie.name, `gatehouse_session_${port}`)
      assert.strictEqual(spec.components.securitySchemes.gatehouseBearer.scheme, "Bearer")
      assert.property(spec.paths["/api/auth/bootstrap/bearer"], "post")
      assert.property(spec.paths["/api/auth/sessions"], "get")
    }))
})
