/**
 * `GatehouseServer.serve(options)(AppRoutes)`: an application's own routes with Gatehouse around
 * them, built in-process on a free port over SQLite in a temp state directory. Deny by default is
 * on: a route added without a guard answers 401 until a session comes with the request.
 */
import { assert, describe, it } from "@effect/vitest"
import { GuestPromotion } from "@gatehouse-auth/core"
import { HttpAuth } from "@gatehouse-auth/http"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { GatehouseServer } from "../src/index.ts"
import { openSocket, request } from "./helpers.ts"

const AppRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  yield* router.add("GET", "/", auth.public(Effect.succeed(HttpServerResponse.text("my app"))))
  // Added without a guard, as the attachments route of a real app once was.
  yield* router.add("GET", "/attachments/:id", Effect.succeed(HttpServerResponse.text("secret attachment")))
  yield* router.add(
    "GET",
    "/api/notes",
    auth.requireScopes(["read:notes"])(Effect.succeed(HttpServerResponse.jsonUnsafe({ notes: [] })))
  )
}))

const start = (options: Partial<GatehouseServer.ServeOptions> = {}) =>
  Effect.gen(function*() {
    const stateDir = yield* tempDirectory
    const context = yield* Layer.build(
      AppRoutes.pipe(
        GatehouseServer.serve({ host: "127.0.0.1", port: 0, stateDir, applicationScopes: ["read:notes"], ...options })
      )
    )
    return GatehouseServer.services(context)
  })

describe("GatehouseServer.serve", () => {
  it.live("passes webSocketLimits to the WebSocket guard: a session's second socket is refused at a cap of one", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const context = yield* Layer.build(
        GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir, webSocketLimits: { maxPerSession: 1 } })
      )
      const server = GatehouseServer.services(context)
      const { token } = yield* server.sessions.issue({ subject: "me", scopes: ["read:hello"], method: "pairing" })
      const first = yield* openSocket(server.info.baseUrl, Redacted.value(token))
      assert.strictEqual(first.socket.readyState, 1)
      const second = yield* Effect.exit(openSocket(server.info.baseUrl, Redacted.value(token)))
      assert.isTrue(second._tag === "Failure", "the second upgrade is refused")
    }))

  it.live("serves the application's own /, its guarded routes, the auth routes and /pair", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const origin = server.info.baseUrl
      const home = yield* request(`${origin}/`)
      assert.strictEqual(home.status, 200)
      assert.strictEqual(home.text, "my app")
      assert.strictEqual((yield* request(`${origin}/pair`)).status, 200)
      assert.strictEqual((yield* request(`${origin}/api/notes`)).status, 401)
      const session = yield* request(`${origin}/api/auth/session`)
      assert.strictEqual(session.json.authenticated, false)
    }))

  it.live("deny by default: a route added without a guard answers 401, and 200 with a session", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const origin = server.info.baseUrl
      const refused = yield* request(`${origin}/attachments/7`)
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.json.error.code, "missing_credential")
      assert.notInclude(refused.text, "secret attachment")

      const { token } = yield* server.sessions.issue({ subject: "me", scopes: ["read:notes"], method: "pairing" })
      const allowed = yield* request(`${origin}/attachments/7`, {
        headers: { authorization: `Bearer ${Redacted.value(token)}` }
      })
      assert.strictEqual(allowed.status, 200)
      assert.strictEqual(allowed.text, "secret attachment")
    }))

  it.live("denyByDefault: false leaves an unguarded route open (the application's choice)", () =>
    Effect.gen(function*() {
      const server = yield* start({ denyByDefault: false })
      assert.strictEqual((yield* request(`${server.info.baseUrl}/attachments/7`)).status, 200)
    }))

  it.live("a GuestPromotion provided around serve merges the guest of a browser that pairs; guests: false has no route", () =>
    Effect.gen(function*() {
      const merged: Array<string> = []
      const stateDir = yield* tempDirectory
      const context = yield* Layer.build(
        AppRoutes.pipe(
          GatehouseServer.serve({ host: "127.0.0.1", port: 0, stateDir, applicationScopes: ["read:notes"] }),
          Layer.provide(Layer.succeed(
            GuestPromotion.GuestPromotion,
            GuestPromotion.GuestPromotion.of({ merge: (guestId) => Effect.sync(() => merged.push(guestId)) })
          ))
        )
      )
      const server = GatehouseServer.services(context)
      const origin = server.info.baseUrl
      const guest = yield* request(`${origin}/api/auth/guest-session`, { method: "POST", body: {} })
      assert.strictEqual(guest.status, 200, guest.text)
      const cookie = guest.setCookies.find((line) => line.startsWith("gatehouse_guest_"))!.split(";")[0]!
      const issued = yield* server.grants.issue({ subject: "me", scopes: ["read:notes"] })
      const paired = yield* request(`${origin}/api/auth/bootstrap`, {
        method: "POST",
        body: { credential: Redacted.value(issued.credential) },
        headers: { cookie }
      })
      assert.strictEqual(paired.status, 200, paired.text)
      assert.deepStrictEqual(merged, [guest.json.guestId])

      const off = yield* start({ guests: false })
      const missing = yield* request(`${off.info.baseUrl}/api/auth/guest-session`, { method: "POST", body: {} })
      assert.strictEqual(missing.status, 404)
    }))
})
