/**
 * Deny by default, over loopback: an application route registered without a guard answers 401
 * until a session comes with the request; guarded, `HttpAuth.public` and `publicRoutes` routes keep
 * their own rules; the auth routes, the WebSocket ticket and the 404 are untouched.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, request } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { HttpAuth } from "../src/index.ts"
import { adminSession, startServer } from "./harness.ts"

const ok = (text: string) => HttpServerResponse.text(text)

// Routes an application might add in a hurry: none of the unguarded ones says who may call it.
const AppRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  yield* router.add("GET", "/attachments/:id", Effect.succeed(ok("attachment")))
  yield* router.add("GET", "/trace", () => Effect.succeed(ok("trace")))
  yield* router.add("POST", "/notes", ok("created"))
  yield* router.add("GET", "/", auth.public(Effect.succeed(ok("home"))))
  yield* router.add("GET", "/favicon.ico", Effect.succeed(ok("icon")))
  yield* router.prefixed("/admin").add("GET", "/stats", Effect.succeed(ok("stats")))
  yield* router.addAll([HttpRouter.route("GET", "/export", Effect.succeed(ok("export")))])
}))

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  request(port, { method: "GET", path, headers: { host: `127.0.0.1:${port}`, ...headers } })

const errorCode = (text: string) => JSON.parse(text).error.code as string

const unguarded = ["/attachments/42", "/trace", "/admin/stats", "/export"]

describe("deny by default", () => {
  it.live("an unguarded route answers 401 without a session, 200 with one", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ denyByDefault: true, publicRoutes: ["GET /favicon.ico"], routes: AppRoutes })
      for (const path of unguarded) {
        const refused = yield* get(server.port, path)
        assert.strictEqual(refused.status, 401, path)
        assert.strictEqual(errorCode(refused.text), "missing_credential", path)
      }
      const post = yield* request(server.port, {
        method: "POST",
        path: "/notes",
        headers: { host: `127.0.0.1:${server.port}` }
      })
      assert.strictEqual(post.status, 401)

      const { token, cookie } = yield* adminSession(server)
      for (const path of unguarded) {
        const allowed = yield* get(server.port, path, bearer(token))
        assert.strictEqual(allowed.status, 200, path)
      }
      assert.strictEqual((yield* get(server.port, "/trace", { cookie })).text, "trace")
      // A bad credential is refused as such, not passed through.
      const forged = yield* get(server.port, "/trace", bearer("gh_sess_not-a-real-token"))
      assert.strictEqual(forged.status, 401)
      assert.strictEqual(errorCode(forged.text), "invalid_credential")
    })))

  it.live("declared routes keep their own rules", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ denyByDefault: true, publicRoutes: ["GET /favicon.ico"], routes: AppRoutes })
      assert.strictEqual((yield* get(server.port, "/")).text, "home")
      assert.strictEqual((yield* get(server.port, "/favicon.ico")).text, "icon")
      // A guarded route still names missing scopes, not just "no session".
      const { token } = yield* adminSession(server, ["write:hello"])
      const hello = yield* get(server.port, "/api/hello", bearer(token))
      assert.strictEqual(hello.status, 403)
      assert.strictEqual(errorCode(hello.text), "insufficient_scope")
      // Gatehouse's own routes and the 404 are not behind a session.
      const session = yield* get(server.port, "/api/auth/session")
      assert.strictEqual(session.status, 200)
      assert.strictEqual(JSON.parse(session.text).authenticated, false)
      const unknown = yield* get(server.port, "/no/such/page")
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(errorCode(unknown.text), "not_found")
    })))

  it.live("off unless asked: the same routes answer without a session", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ routes: AppRoutes })
      for (const path of ["/attachments/42", "/trace", "/admin/stats", "/export"]) {
        assert.strictEqual((yield* get(server.port, path)).status, 200, path)
      }
    })))
})

describe("the JSON 404 claims no path", () => {
  // A single-page app serves its index for every GET path; the 404 is middleware, not a `/*`
  // route of Gatehouse's that would shadow it.
  const Spa = HttpRouter.use(Effect.fnUntraced(function*(router) {
    const auth = yield* HttpAuth.HttpAuth
    yield* router.add("GET", "/*", auth.public(Effect.succeed(ok("index.html"))))
  }))

  it.live("an application's own GET /* answers; Gatehouse's routes and other methods keep theirs", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startServer({ denyByDefault: true, routes: Spa })
      assert.strictEqual((yield* get(server.port, "/")).text, "index.html")
      assert.strictEqual((yield* get(server.port, "/notes/42")).text, "index.html")
      const session = yield* get(server.port, "/api/auth/session")
      assert.strictEqual(JSON.parse(session.text).authenticated, false)
      const post = yield* request(server.port, {
        method: "POST",
        path: "/notes/42",
        headers: { host: `127.0.0.1:${server.port}` }
      })
      assert.strictEqual(post.status, 404)
      assert.strictEqual(errorCode(post.text), "not_found")
    })))
})
