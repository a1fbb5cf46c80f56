import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import * as Bootstrap from "../src/BootstrapCredentialService.ts"
import * as ServerAuth from "../src/ServerAuth.ts"
import * as ServerAuthPolicy from "../src/ServerAuthPolicy.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const build = (policy: ServerAuthPolicy.Options) =>
  Effect.map(
    Layer.build(
      ServerAuth.layer({ applicationScopes: ["read:hello", "write:hello"] }).pipe(
        Layer.provideMerge(Bootstrap.layerMemory.pipe(Layer.provideMerge(Sessions.layerMemory()))),
        Layer.provide(SigningKeyring.layer()),
        Layer.provide(ServerSecretStore.layerMemory()),
        Layer.provide(ServerAuthPolicy.layer(policy))
      )
    ),
    (context) => ({
      auth: Context.get(context, ServerAuth.ServerAuth),
      grants: Context.get(context, Bootstrap.BootstrapCredentialService)
    })
  )

describe("ServerAuthPolicy", () => {
  it("derives the policy from the bind host and mode; a configured one wins", () => {
    assert.strictEqual(ServerAuthPolicy.derive({ host: "127.0.0.1" }), "loopback-browser")
    assert.strictEqual(ServerAuthPolicy.derive({ host: "localhost", mode: "desktop" }), "desktop-managed-local")
    assert.strictEqual(ServerAuthPolicy.derive({ host: "::1" }), "loopback-browser")
    assert.strictEqual(ServerAuthPolicy.derive({ host: "127.8.9.10" }), "loopback-browser")
    assert.strictEqual(ServerAuthPolicy.derive({ host: "0.0.0.0" }), "remote-reachable")
    assert.strictEqual(ServerAuthPolicy.derive({ host: "::" }), "remote-reachable")
    assert.strictEqual(ServerAuthPolicy.derive({ host: "192.168.1.5" }), "remote-reachable")
    assert.strictEqual(
      ServerAuthPolicy.derive({ host: "127.0.0.1", configured: "remote-reachable" }),
      "remote-reachable"
    )
  })

  it("names and flags the session cookie per port and scheme", () => {
    const loopback = ServerAuthPolicy.make({ host: "127.0.0.1", port: 3773 })
    assert.deepStrictEqual(loopback.sessionCookie(false), {
      name: "gatehouse_session_3773",
      secure: false,
      httpOnly: true,
      sameSite: "lax",
      path: "/"
    })
    assert.deepStrictEqual(loopback.sessionCookie(true).name, "__Host-gatehouse_session")
    assert.isTrue(loopback.sessionCookie(true).secure)
    const remote = ServerAuthPolicy.make({ host: "0.0.0.0", port: 8080 })
    assert.isTrue(remote.sessionCookie(false).secure)
    assert.isFalse(remote.isLoopback)
    assert.strictEqual(loopback.cookie("gatehouse_guest", false).name, "gatehouse_guest_3773")
  })
})

describe("ServerAuth", () => {
  it.effect("the startup pairing URL carries one new administrative credential per call", () =>
    Effect.gen(function*() {
      const { auth } = yield* build({ host: "127.0.0.1", port: 3773 })
      const first = yield* auth.issueStartupPairingUrl("http://127.0.0.1:3773/")
      const second = yield* auth.issueStartupPairingUrl("http://127.0.0.1:3773")
      const url = Redacted.value(first.url)
      assert.strictEqual(url, `http://127.0.0.1:3773/pair#token=${Redacted.value(first.credential)}`)
      assert.notStrictEqual(Redacted.value(second.credential), Redacted.value(first.credential))
      const { session, token } = yield* auth.exchangeBootstrapCredential(first.credential)
      assert.deepStrictEqual([...session.scopes].sort(), ["read:access", "read:hello", "write:access", "write:hello"])
      const authenticated = yield* auth.authenticateHttpRequest({ bearer: token })
      assert.strictEqual(authenticated.via, "bearer")
      assert.strictEqual(
        (yield* Effect.flip(auth.exchangeBootstrapCredential(first.credential)))._tag,
        "UnknownCredential"
      )
    }))

  it.effect("the cookie wins over the bearer token; nothing presented is MissingCredential", () =>
    Effect.gen(function*() {
      const { auth, grants } = yield* build({ host: "127.0.0.1", port: 3773 })
      const issue = () =>
        Effect.flatMap(
          grants.issue({ subject: "owner", scopes: [] }),
          ({ credential }) => auth.exchangeBootstrapCredential(credential)
        )
      const a = yield* issue()
      const b = yield* issue()
      const both = yield* auth.authenticateHttpRequest({ cookie: a.token, bearer: b.token })
      assert.deepStrictEqual([both.via, both.session.sid], ["cookie", a.session.sid])
      assert.strictEqual((yield* Effect.flip(auth.authenticateHttpRequest({})))._tag, "MissingCredential")
      const state = yield* auth.getSessionState({ bearer: Redacted.make("garbage") })
      assert.strictEqual(state._tag, "None")
      // The session state: the cookie when it is good; a stale one does not hide the bearer token.
      const good = yield* auth.getSessionState({ cookie: a.token, bearer: b.token })
      assert.deepStrictEqual(
        Option.map(good, (found) => [found.via, found.session.sid]),
        Option.some(["cookie", a.session.sid])
      )
      const stale = yield* auth.getSessionState({ cookie: Redacted.make("stale"), bearer: b.token })
      assert.deepStrictEqual(
        Option.map(stale, (found) => [found.via, found.session.sid]),
        Option.some(["bearer", b.session.sid])
      )
      const neither = yield* auth.getSessionState({ cookie: Redacted.make("stale"), bearer: Redacted.make("garbage") })
      assert.strictEqual(neither._tag, "None")
    }))

  it.effect("unsafe-no-auth treats every request as an administrator", () =>
    Effect.gen(function*() {
      const { auth } = yield* build({ host: "127.0.0.1", port: 3773, policy: "unsafe-no-auth" })
      const anyone = yield* auth.authenticateHttpRequest({})
      assert.deepStrictEqual(anyone.session.scopes, ["admin"])
      assert.strictEqual(anyone.via, "none")
    }))
})
