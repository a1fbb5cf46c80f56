/**
 * The time rules of the OAuth authorization server with the TestClock (codes live 60 seconds,
 * access tokens 1 hour, the refresh grace is 30 seconds, grants live 30 days idle and 90 at most,
 * and outlive the approving session's expiry but not its revoke), the redirect URI rules and the
 * client id parser under hostile input (property tests).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as AccessTokens from "../src/AccessTokens.ts"
import * as OAuth from "../src/OAuthAuthorizationServer.ts"
import * as OAuthClients from "../src/OAuthClients.ts"
import * as OAuthRedirectUri from "../src/OAuthRedirectUri.ts"
import * as OAuthStore from "../src/OAuthStore.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SessionStore from "../src/SessionStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const origin = "http://localhost:3773"
const context: OAuth.AuthorizationContext = { issuer: origin, resource: `${origin}/mcp` }
const redirectUri = "http://127.0.0.1/callback"
const verifier = "v".repeat(43)

const setup = Effect.gen(function*() {
  const built = yield* Layer.build(
    OAuth.layer({ scopesSupported: ["read:hello", "write:tasks"] }).pipe(
      Layer.provideMerge(Layer.mergeAll(OAuthClients.layer, OAuthStore.layerMemory)),
      Layer.provideMerge(AccessTokens.layer({ issuer: "http://127.0.0.1:3773" })),
      Layer.provideMerge(Sessions.layer({ sweepInterval: Duration.days(365) })),
      Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
      Layer.provideMerge(SessionStore.layerMemory),
      Layer.provide(ServerSecretStore.layerMemory())
    )
  )
  const server = Context.get(built, OAuth.OAuthAuthorizationServer)
  const clients = Context.get(built, OAuthClients.OAuthClients)
  const sessions = Context.get(built, Sessions.SessionCredentialService)
  const registered = yield* clients.register({ redirect_uris: [redirectUri], client_name: "Agent" })
  const approver = (yield* sessions.issue({
    subject: "owner",
    scopes: ["read:hello", "write:tasks", "write:access"],
    method: "pairing"
  })).session

  /** A code approved by `approver` for the registered client. */
  const approve = Effect.gen(function*() {
    const params = new URLSearchParams({
      response_type: "code",
      client_id: registered.client_id,
      redirect_uri: redirectUri,
      code_challenge: OAuth.challengeOf(verifier),
      code_challenge_method: "S256",
      resource: context.resource
    })
    const outcome = yield* server.authorize(params, context)
    assert.strictEqual(outcome._tag, "Valid")
    if (outcome._tag !== "Valid") return ""
    const consent = yield* server.consent(outcome.request, approver)
    const location = yield* server.approve(outcome.request, approver, consent.csrfToken)
    return new URL(location).searchParams.get("code")!
  })
  const exchange = (code: string) =>
    server.token(
      new URLSearchParams({
        grant_type: "authorization_code",
        code,
        client_id: registered.client_id,
        redirect_uri: redirectUri,
        code_verifier: verifier
      }),
      context
    )
  const refresh = (token: string) =>
    server.token(
      new URLSearchParams({ grant_type: "refresh_token", refresh_token: token, client_id: registered.client_id }),
      context
    )
  const accepted = (token: string) =>
    Effect.map(server.verifyAccessToken(Redacted.make(token), context.resource), Option.isSome)
  return { server, sessions, approver, approve, exchange, refresh, accepted, clientId: registered.client_id }
})

const errorOf = <A, R>(effect: Effect.Effect<A, OAuth.OAuthError | { readonly _tag: "StoreError" }, R>) =>
  Effect.map(Effect.flip(effect), (error) => error._tag === "OAuthError" ? (error as OAuth.OAuthError).error : "store")

describe("OAuthAuthorizationServer time rules (TestClock)", () => {
  it.effect("a code is good for 60 seconds: at 59 s it exchanges, at 60 s it is expired", () =>
    Effect.gen(function*() {
      const oauth = yield* setup
      const early = yield* oauth.approve
      yield* TestClock.adjust("59 seconds")
      assert.isTrue(yield* oauth.accepted((yield* oauth.exchange(early)).access_token))
      const late = yield* oauth.approve
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(yield* errorOf(oauth.exchange(late)), "invalid_grant")
    }))

  it.effect("an access token lives 1 hour; the refresh token then mints a new one", () =>
    Effect.gen(function*() {
      const oauth = yield* setup
      const tokens = yield* oauth.exchange(yield* oauth.approve)
      assert.strictEqual(tokens.expires_in, 3600)
      yield* TestClock.adjust(Duration.sum(Duration.hours(1), Duration.seconds(5)))
      assert.isFalse(yield* oauth.accepted(tokens.access_token))
      const next = yield* oauth.refresh(tokens.refresh_token)
      assert.isTrue(yield* oauth.accepted(next.access_token))
    }))

  it.effect("a rotated refresh token within 30 s returns the same successor; after 30 s it revokes the family", () =>
    Effect.gen(function*() {
      const oauth = yield* setup
      const tokens = yield* oauth.exchange(yield* oauth.approve)
      const first = yield* oauth.refresh(tokens.refresh_token)
      yield* TestClock.adjust("30 seconds")
      const retried = yield* oauth.refresh(tokens.refresh_token)
      assert.strictEqual(retried.refresh_token, first.refresh_token)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* errorOf(oauth.refresh(tokens.refresh_token)), "invalid_grant")
      // The whole family is gone: the successor and every access token from the grant.
      assert.strictEqual(yield* errorOf(oauth.refresh(first.refresh_token)), "invalid_grant")
      assert.isFalse(yield* oauth.accepted(first.access_token))
      assert.isFalse(yield* oauth.accepted(tokens.access_token))
    }))

  it.effect("concurrent refreshes with one token: all succeed with one and the same successor", () =>
    Effect.gen(function*() {
      const oauth = yield* setup
      const tokens = yield* oauth.exchange(yield* oauth.approve)
      const all = yield* Effect.all(Array.from({ length: 8 }, () => oauth.refresh(tokens.refresh_token)), {
        concurrency: "unbounded"
      })
      assert.strictEqual(new Set(all.map((each) => each.refresh_token)).size, 1)
    }))

  it.effect("a grant lives 30 days idle and 90 days at most, refreshed or not", () =>
    Effect.gen(function*() {
      const oauth = yield* setup
      let tokens = yield* oauth.exchange(yield* oauth.approve)
      yield* TestClock.adjust(Duration.days(29))
      tokens = yield* oauth.refresh(tokens.refresh_token)
      for (let day = 29; day + 29 < 90; day += 29) {
        yield* TestClock.adjust(Duration.days(29))
        tokens = yield* oauth.refresh(tokens.refresh_token)
      }
      // Day 87: refreshed every 29 days, still live; the absolute 90 days end it.
      yield* TestClock.adjust(Duration.days(3))
      assert.strictEqual(yield* errorOf(oauth.refresh(tokens.refresh_token)), "invalid_grant")

      const idle = yield* setup
      const quiet = yield* idle.exchange(yield* idle.approve)
      yield* TestClock.adjust(Duration.days(30))
      assert.strictEqual(yield* errorOf(idle.refresh(quiet.refresh_token)), "invalid_grant")
    }))

  it.effect("the approving session expiring leaves the grant; revoking it ends the grant", () =>
    Effect.gen(function*() {
      const oauth = yield* setup
      let tokens = yield* oauth.exchange(yield* oauth.approve)
      // The approver (7 days idle) expires and is pruned; the grant (30 days idle) lives on.
      yield* TestClock.adjust(Duration.days(8))
      yield* oauth.sessions.list
      assert.isTrue(Option.isNone(yield* oauth.sessions.get(oauth.approver.sid)))
      tokens = yield* oauth.refresh(tokens.refresh_token)
      assert.isTrue(yield* oauth.accepted(tokens.access_token))

      const other = yield* setup
      const second = yield* other.exchange(yield* other.approve)
      yield* other.sessions.revoke(other.approver.sid)
      assert.isFalse(yield* other.accepted(second.access_token))
      assert.strictEqual(yield* errorOf(other.refresh(second.refresh_token)), "invalid_grant")
    }))
})

describe("OAuthRedirectUri", () => {
  it("matching: exact for https and private-use schemes; loopback http exact but for the port", () => {
    assert.isTrue(OAuthRedirectUri.matches("https://a.example/cb", "https://a.example/cb"))
    assert.isFalse(OAuthRedirectUri.matches("https://a.example/cb", "https://a.example:8443/cb"))
    assert.isFalse(OAuthRedirectUri.matches("https://a.example/cb", "https://a.example/cb?x=1"))
    assert.isTrue(OAuthRedirectUri.matches("http://localhost/callback", "http://localhost:51234/callback"))
    assert.isTrue(OAuthRedirectUri.matches("http://127.0.0.1:1/callback", "http://127.0.0.1:2/callback"))
    assert.isTrue(OAuthRedirectUri.matches("http://[::1]/cb", "http://[::1]:9/cb"))
    assert.isFalse(OAuthRedirectUri.matches("http://localhost/callback", "http://localhost:5/other"))
    assert.isFalse(OAuthRedirectUri.matches("http://localhost/callback", "http://127.0.0.1:5/callback"))
    assert.isFalse(OAuthRedirectUri.matches("http://localhost/callback", "http://localhost:5/callback#x"))
    assert.isFalse(OAuthRedirectUri.matches("http://localhost/callback", "http://u@localhost:5/callback"))
    assert.isTrue(OAuthRedirectUri.matches("com.example.app:/cb", "com.example.app:/cb"))
    assert.isFalse(OAuthRedirectUri.matches("com.example.app:/cb", "com.example.app:/cb2"))
  })

  it("property: a URI that is not registrable never matches anything but itself, and no match ever changes host", () =>
    fc.assert(fc.property(fc.string({ maxLength: 80 }), fc.webUrl(), (junk, url) => {
      for (const presented of [junk, url, `${url}#f`]) {
        for (const registered of ["http://localhost/callback", "https://a.example/cb", "com.example.app:/cb"]) {
          if (OAuthRedirectUri.matches(registered, presented)) {
            assert.strictEqual(new URL(presented).hostname, new URL(registered).hostname)
            assert.notInclude(presented, "#")
          }
        }
        if (!OAuthRedirectUri.isRegistrable(presented)) {
          assert.isFalse(OAuthRedirectUri.matches(presented, `${presented}x`))
        }
      }
    })))
})

describe("OAuthClients.resolve under hostile input", () => {
  it.effect("property: random text, and a registered id with any one character changed, resolve to nothing", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(
        OAuthClients.layer.pipe(
          Layer.provide(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
          Layer.provide(ServerSecretStore.layerMemory())
        )
      )
      const clients = Context.get(built, OAuthClients.OAuthClients)
      const { client_id } = yield* clients.register({ redirect_uris: ["https://a.example/cb"], client_name: "A" })
      assert.isTrue(Option.isSome(yield* clients.resolve(client_id)))
      const samples = fc.sample(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.tuple(fc.nat(client_id.length - 1), fc.constantFrom("A", "_", ".", "-", "0", "z")).map(([at, char]) =>
            client_id.slice(0, at) + char + client_id.slice(at + 1)
          )
        ),
        300
      )
      for (const sample of samples) {
        if (sample === client_id) continue
        assert.isTrue(Option.isNone(yield* clients.resolve(sample)), sample)
      }
    }))
})
