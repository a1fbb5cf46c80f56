/**
 * The composition the README shows, run as written: the code between the README markers below is
 * the README's "Use" snippet character for character (the first test checks that), served over
 * loopback. `Core` and `Listener`, which the README leaves to the application, are defined first.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  BootstrapCredentialService,
  ServerAuth,
  ServerAuthPolicy,
  ServerSecretStore,
  SessionCredentialService,
  SigningKeyring
} from "@gatehouse-auth/core"
import { Context } from "effect"
import { HttpServer } from "effect/http"
import * as Fs from "node:fs"
import * as Http from "node:http"

// Port 0: the policy (the cookie's name) is built from the port the server bound.
const Listener = NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
const Core = ServerAuth.layer({ applicationScopes: ["read:hello", "write:hello"] }).pipe(
  Layer.provideMerge(
    BootstrapCredentialService.layerMemory.pipe(Layer.provideMerge(SessionCredentialService.layerMemory()))
  ),
  Layer.provideMerge(SigningKeyring.layer()),
  Layer.provideMerge(ServerSecretStore.layerMemory()),
  Layer.provideMerge(Layer.unwrap(Effect.map(Effect.service(HttpServer.HttpServer), (server) =>
    ServerAuthPolicy.layer({
      host: "127.0.0.1",
      port: server.address._tag === "UnixPathAddress" ? 0 : server.address.port
    }))))
)

// README:begin
import { HttpAuth, HttpAuthLayer, WebSocketGuard } from "@gatehouse-auth/http"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { Socket } from "effect/socket"

// Your routes: resolve the services once, wrap each handler with the scopes it needs.
const AppRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  const sockets = yield* WebSocketGuard.WebSocketGuard
  // A public page: no guard.
  yield* router.add("GET", "/", HttpServerResponse.text("Hello"))
  yield* router.add(
    "GET",
    "/api/hello",
    auth.requireScopes(["read:hello"])(
      Effect.map(
        Effect.service(HttpAuth.CurrentSession),
        ({ session }) => HttpServerResponse.jsonUnsafe({ hello: session.subject })
      )
    )
  )
  // A WebSocket that echoes text frames.
  yield* router.add(
    "GET",
    "/ws",
    sockets.serve(["read:hello"], (socket) =>
      Effect.scoped(Effect.gen(function*() {
        const writer = yield* socket.writer
        const read = yield* Socket.readerString(socket)
        yield* Effect.forever(Effect.flatMap(read, (frames) => Effect.forEach(frames, writer.write, { discard: true })))
      })))
  )
}))

// Around them: the auth services, the global guards, the /api/auth/* routes, and a JSON 404 for
// any other path (registered after your routes, so your `GET /` answers).
const App = AppRoutes.pipe(HttpAuthLayer.layer({ applicationScopes: ["read:hello", "write:hello"] }))

// The core's services and an HttpServer; `Layer.launch(Server)` runs it.
const Server = App.pipe(Layer.provide(Core), Layer.provide(Listener))
// README:end

const between = (text: string, begin: string, end: string) => {
  const start = text.indexOf(begin)
  const stop = text.indexOf(end, start + begin.length)
  assert.isTrue(start >= 0 && stop >= 0, `no ${begin} ... ${end}`)
  return text.slice(start + begin.length, stop).trim()
}

/** GET over loopback: status, content type and body. */
const get = (port: number, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
  })

describe("the README's composition", () => {
  it("is the README's snippet, as written", () => {
    const readme = Fs.readFileSync(new URL("../README.md", import.meta.url), "utf8")
    const self = Fs.readFileSync(new URL(import.meta.url), "utf8")
    const snippet = between(readme.slice(readme.indexOf("## Use")), "```ts", "```")
    assert.strictEqual(snippet, between(self, "// README:begin", "// README:end"))
  })

  it.live("answers the app's own GET / with 200, and an unknown path with the JSON 404", () =>
    Effect.gen(function*() {
      // The Listener is memoized: the one the Server listens on.
      const context = yield* Layer.build(Layer.merge(Server, Listener))
      const address = Context.get(context, HttpServer.HttpServer).address
      const port = address._tag === "UnixPathAddress" ? 0 : address.port

      const root = yield* get(port, "/")
      assert.strictEqual(root.status, 200)
      assert.strictEqual(root.text, "Hello")

      const unknown = yield* get(port, "/no/such/page")
      assert.strictEqual(unknown.status, 404)
      assert.include(unknown.type, "application/json")
      const body = JSON.parse(unknown.text)
      assert.strictEqual(body.error.code, "not_found")
      assert.isString(body.error.message)

      // The rest of the stack is there: the guard on the app's route, the auth routes.
      const hello = yield* get(port, "/api/hello")
      assert.strictEqual(hello.status, 401)
      assert.strictEqual(JSON.parse(hello.text).error.code, "missing_credential")
      const session = yield* get(port, "/api/auth/session")
      assert.strictEqual(session.status, 200)
      assert.strictEqual(JSON.parse(session.text).authenticated, false)
    }))
})
