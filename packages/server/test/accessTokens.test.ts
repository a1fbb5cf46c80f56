/**
 * Access tokens on the reference server (SQLite state, over loopback): `POST /api/auth/tokens`, a
 * JWT as `Authorization: Bearer`, resource-level authorization on `/api/runs*`, revocation,
 * one-time use under concurrency, and an outside verifier reading `/.well-known/jwks.json`.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import * as Jose from "jose"
import { GatehouseServer } from "../src/index.ts"
import { gatehouse, request } from "./helpers.ts"

const start = Effect.gen(function*() {
  const stateDir = yield* tempDirectory
  const context = yield* Layer.build(GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir }))
  const services = GatehouseServer.services(context)
  const origin = services.info.baseUrl
  const session = (scopes: ReadonlyArray<string>) =>
    Effect.map(
      services.sessions.issue({ subject: "owner", scopes, method: "pairing" }),
      ({ session, token }) => ({ session, token: Redacted.value(token) })
    )
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const mint = (token: string, body: unknown) =>
    request(`${origin}/api/auth/tokens`, { method: "POST", headers: bearer(token), body })
  /** A JWT for `scopes`, minted from a session holding `held`. */
  const jwt = (scopes: ReadonlyArray<string>, held: ReadonlyArray<string> = scopes, extra: object = {}) =>
    Effect.gen(function*() {
      const { token } = yield* session(held)
      const minted = yield* mint(token, { scopes, ...extra })
      assert.strictEqual(minted.status, 200, minted.text)
      return minted.json.token as string
    })
  const createRun = (token: string, task: string) =>
    request(`${origin}/api/runs`, { method: "POST", headers: bearer(token), body: { task } })
  const batch = (token: string, tasks: ReadonlyArray<string>) =>
    request(`${origin}/api/runs/batch`, { method: "POST", headers: bearer(token), body: { tasks } })
  const readRun = (token: string, id: string) => request(`${origin}/api/runs/${id}`, { headers: bearer(token) })
  return { ...services, stateDir, origin, session, bearer, mint, jwt, createRun, batch, readRun }
})

describe("access tokens on the reference server", () => {
  it.live("POST /api/auth/tokens: a Bearer JWT with the asked scopes, no-store; it authenticates /api/hello", () =>
    Effect.gen(function*() {
      const server = yield* start
      const { token } = yield* server.session(["read:hello", "write:hello"])
      const minted = yield* server.mint(token, { scopes: ["read:hello"], expiresInSeconds: 60 })
      assert.strictEqual(minted.status, 200, minted.text)
      assert.strictEqual(minted.headers["cache-control"], "no-store")
      assert.deepStrictEqual(Object.keys(minted.json).sort(), ["expiresAt", "scopes", "token", "tokenType"])
      assert.strictEqual(minted.json.tokenType, "Bearer")
      assert.deepStrictEqual(minted.json.scopes, ["read:hello"])
      assert.approximately(minted.json.expiresAt, Date.now() + 60_000, 2_000)
      const header = Jose.decodeProtectedHeader(minted.json.token)
      assert.strictEqual(header.typ, "at+jwt")
      assert.strictEqual(header.alg, "EdDSA")
      const claims = Jose.decodeJwt(minted.json.token)
      assert.strictEqual(claims.iss, server.origin)
      assert.strictEqual(claims.aud, server.origin)
      const hello = yield* request(`${server.origin}/api/hello`, { headers: server.bearer(minted.json.token) })
      assert.strictEqual(hello.status, 200)
      assert.deepStrictEqual(hello.json, { hello: "owner" })
      // Its scopes, not the session's: write:hello was not asked for.
      const session = yield* request(`${server.origin}/api/auth/session`, { headers: server.bearer(minted.json.token) })
      assert.deepStrictEqual(session.json.session.scopes, ["read:hello"])
    }))

  it.live("narrowing: a scope the session lacks 403, admin from an administrative session 403, malformed 400", () =>
    Effect.gen(function*() {
      const server = yield* start
      const { token } = yield* server.session(["read:hello", "write:hello", "read:access", "write:access"])
      const lacking = yield* server.mint(token, { scopes: ["read:runs"] })
      assert.strictEqual(lacking.status, 403)
      assert.strictEqual(lacking.json.error.code, "insufficient_scope")
      assert.match(String(lacking.headers["www-authenticate"]), /scope="read:runs"/)
      const admin = yield* server.mint(token, { scopes: ["admin"] })
      assert.strictEqual(admin.status, 403)
      assert.strictEqual(admin.json.error.code, "insufficient_scope")
      for (const body of [{ scopes: ["Read:Hello"] }, { scopes: [] }, { scopes: "read:hello" }, {}]) {
        const bad = yield* server.mint(token, body)
        assert.strictEqual(bad.status, 400, JSON.stringify(body))
        assert.strictEqual(bad.json.error.code, "invalid_request")
      }
      const tooLong = yield* server.mint(token, { scopes: ["read:hello"], expiresInSeconds: 86_401 })
      assert.strictEqual(tooLong.status, 400)
      const anonymous = yield* request(`${server.origin}/api/auth/tokens`, {
        method: "POST",
        body: { scopes: ["read:hello"] }
      })
      assert.strictEqual(anonymous.status, 401)
    }))

  it.live("a JWT cannot mint JWTs: 403 at /api/auth/tokens", () =>
    Effect.gen(function*() {
      const server = yield* start
      const token = yield* server.jwt(["read:hello"])
      const refused = yield* server.mint(token, { scopes: ["read:hello"] })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "forbidden")
      assert.notProperty(refused.json, "token")
    }))

  it.live("nor a lasting credential: a JWT holding write:access is 403 at pairing links and MCP credentials", () =>
    Effect.gen(function*() {
      const server = yield* start
      const token = yield* server.jwt(["read:hello", "write:access"], ["read:hello", "read:access", "write:access"])
      const link = yield* request(`${server.origin}/api/auth/pairing-links`, {
        method: "POST",
        headers: server.bearer(token),
        body: { scopes: ["read:hello"] }
      })
      assert.strictEqual(link.status, 403, link.text)
      assert.strictEqual(link.json.error.message, "An access token cannot create pairing links")
      assert.notProperty(link.json, "credential")
      const mcp = yield* request(`${server.origin}/api/auth/mcp-credentials`, {
        method: "POST",
        headers: server.bearer(token),
        body: { threadId: "t1", providerInstanceId: "p1" }
      })
      assert.strictEqual(mcp.status, 403, mcp.text)
      assert.strictEqual(mcp.json.error.message, "An access token cannot create MCP credentials")
      // The session it came from still can.
      const { token: sessionToken } = yield* server.session(["read:hello", "read:access", "write:access"])
      const fromSession = yield* request(`${server.origin}/api/auth/pairing-links`, {
        method: "POST",
        headers: server.bearer(sessionToken),
        body: { scopes: ["read:hello"] }
      })
      assert.strictEqual(fromSession.status, 201, fromSession.text)
    }))

  it.live("OR-across-types regression: write:tasks:foo runs foo only; write:tasks all; read:hello none; write:runs creates but cannot read", () =>
    Effect.gen(function*() {
      const server = yield* start
      const foo = yield* server.jwt(["write:tasks:foo"], ["write:tasks", "read:hello"])
      const created = yield* server.createRun(foo, "foo")
      assert.strictEqual(created.status, 201, created.text)
      assert.strictEqual(created.json.task, "foo")
      assert.match(created.json.id, /^run_/)
      const bar = yield* server.createRun(foo, "bar")
      assert.strictEqual(bar.status, 403)
      assert.strictEqual(bar.json.error.code, "insufficient_scope")
      assert.match(String(bar.headers["www-authenticate"]), /scope="write:tasks:bar"/)
      const mixed = yield* server.batch(foo, ["foo", "bar"])
      assert.strictEqual(mixed.status, 403)
      assert.match(String(mixed.headers["www-authenticate"]), /scope="write:tasks:bar"/)
      assert.strictEqual((yield* server.batch(foo, ["foo", "foo"])).status, 201)
      // Reading a run is another type: write:tasks:foo does not stand in for read:runs:<id>.
      assert.strictEqual((yield* server.readRun(foo, created.json.id)).status, 403)

      const all = yield* server.jwt(["write:tasks"])
      assert.strictEqual((yield* server.createRun(all, "bar")).status, 201)
      assert.strictEqual((yield* server.batch(all, ["foo", "bar", "baz"])).status, 201)

      const hello = yield* server.jwt(["read:hello"])
      assert.strictEqual((yield* server.createRun(hello, "foo")).status, 403)
      assert.strictEqual((yield* server.batch(hello, ["foo"])).status, 403)
      assert.strictEqual((yield* server.readRun(hello, created.json.id)).status, 403)

      const runs = yield* server.jwt(["write:runs"])
      assert.strictEqual((yield* server.createRun(runs, "anything")).status, 201)
      assert.strictEqual((yield* server.batch(runs, ["a", "b"])).status, 201)
      assert.strictEqual((yield* server.readRun(runs, created.json.id)).status, 403)

      const reader = yield* server.jwt([`read:runs:${created.json.id}`], ["read:runs"])
      const read = yield* server.readRun(reader, created.json.id)
      assert.strictEqual(read.status, 200)
      assert.deepStrictEqual(read.json, created.json)
      const other = yield* server.createRun(all, "other")
      assert.strictEqual((yield* server.readRun(reader, other.json.id)).status, 403)
      const anyRun = yield* server.jwt(["read:runs"])
      assert.strictEqual((yield* server.readRun(anyRun, other.json.id)).status, 200)

      // A bad body is a 400 after authentication; an empty batch is refused by its Schema.
      assert.strictEqual((yield* server.batch(all, [])).status, 400)
      assert.strictEqual((yield* server.createRun(all, "no spaces")).status, 400)
    }))

  it.live("revoking the minting session: its tokens are refused at once (401)", () =>
    Effect.gen(function*() {
      const server = yield* start
      const { session, token } = yield* server.session(["read:hello"])
      const minted = yield* server.mint(token, { scopes: ["read:hello"] })
      const jwt = minted.json.token as string
      assert.strictEqual((yield* request(`${server.origin}/api/hello`, { headers: server.bearer(jwt) })).status, 200)
      yield* server.sessions.revoke(session.sid)
      const refused = yield* request(`${server.origin}/api/hello`, { headers: server.bearer(jwt) })
      assert.strictEqual(refused.status, 401)
      assert.strictEqual(refused.json.error.code, "invalid_credential")
      assert.match(String(refused.headers["www-authenticate"]), /error="invalid_token"/)
    }))

  it.live("oneTimeUse: 100 concurrent requests with the token, exactly one is answered 200", () =>
    Effect.gen(function*() {
      const server = yield* start
      const jwt = yield* server.jwt(["read:hello"], ["read:hello"], { oneTimeUse: true })
      const answers = yield* Effect.all(
        Array.from({ length: 100 }, () => request(`${server.origin}/api/hello`, { headers: server.bearer(jwt) })),
        { concurrency: 100 }
      )
      const statuses = answers.map((answer) => answer.status)
      assert.strictEqual(statuses.filter((status) => status === 200).length, 1, JSON.stringify(statuses))
      // The others are refused (401), or rate limited once the address's failure budget is spent (429).
      assert.isTrue(statuses.every((status) => status === 200 || status === 401 || status === 429))
    }))

  it.live("an outside verifier (jose.createRemoteJWKSet over loopback) accepts a minted token, rejects a tampered one", () =>
    Effect.gen(function*() {
      const server = yield* start
      const jwt = yield* server.jwt(["read:hello"])
      const jwks = yield* request(`${server.origin}/.well-known/jwks.json`)
      assert.strictEqual(jwks.status, 200)
      assert.strictEqual(jwks.json.keys[0].kid, Jose.decodeProtectedHeader(jwt).kid)
      assert.notProperty(jwks.json.keys[0], "d")
      const keys = Jose.createRemoteJWKSet(new URL(`${server.origin}/.well-known/jwks.json`))
      const options = { issuer: server.origin, audience: server.origin, typ: "at+jwt", algorithms: ["EdDSA"] }
      const verified = yield* Effect.promise(() => Jose.jwtVerify(jwt, keys, options))
      assert.strictEqual(verified.payload.scope, "read:hello")
      const [header, payload, signature] = jwt.split(".")
      const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8"))
      const widened = Buffer.from(JSON.stringify({ ...claims, scope: "admin" })).toString("base64url")
      const tampered = `${header}.${widened}.${signature}`
      const refused = yield* Effect.promise(() =>
        Jose.jwtVerify(tampered, keys, options).then(() => "accepted", () => "refused")
      )
      assert.strictEqual(refused, "refused")
      assert.strictEqual(
        (yield* request(`${server.origin}/api/hello`, { headers: server.bearer(tampered) })).status,
        401
      )
    }))

  it.live("gatehouse tokens mint: prints the token once; it works on /api/runs for its task only; a bad scope is one line", () =>
    Effect.gen(function*() {
      const server = yield* start
      const minted = yield* gatehouse([
        "tokens",
        "mint",
        "--state-dir",
        server.stateDir,
        "--url",
        server.origin,
        "--scopes",
        "write:tasks:foo",
        "--ttl",
        "10m"
      ])
      assert.strictEqual(minted.code, 0, minted.stderr)
      const token = minted.stdout.trim()
      assert.match(token, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/)
      assert.include(minted.stderr, "write:tasks:foo")
      assert.notInclude(minted.stderr, token)
      assert.strictEqual((yield* server.createRun(token, "foo")).status, 201)
      assert.strictEqual((yield* server.createRun(token, "bar")).status, 403)
      const claims = Jose.decodeJwt(token)
      assert.strictEqual(claims.exp! - claims.iat!, 600)
      const beyond = yield* gatehouse([
        "tokens",
        "mint",
        "--state-dir",
        server.stateDir,
        "--url",
        server.origin,
        "--scopes",
        "admin"
      ])
      assert.strictEqual(beyond.code, 1)
      assert.include(beyond.stderr, "cannot grant admin")
      const long = yield* gatehouse([
        "tokens",
        "mint",
        "--state-dir",
        server.stateDir,
        "--url",
        server.origin,
        "--scopes",
        "read:hello",
        "--ttl",
        "25h"
      ])
      assert.strictEqual(long.code, 1)
      assert.include(long.stderr, "--ttl")
    }))
})
