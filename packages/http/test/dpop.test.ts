/**
 * DPoP-bound credentials over real HTTP on loopback. Proofs are made with `jose` directly (an
 * outside client), never with the project's client.
 */
import { assert, describe, it } from "@effect/vitest"
import { DpopReplayStore, Errors, Hashing } from "@gatehouse-auth/core"
import { bearer, jsonHeaders, postJson, request } from "@gatehouse-auth/testing/support"
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import * as Jose from "jose"
import { startServer, type TestServer } from "./harness.ts"

interface Key {
  readonly privateKey: Jose.CryptoKey
  readonly jwk: Jose.JWK
  readonly jkt: string
}

const newKey = Effect.promise(async (): Promise<Key> => {
  const { privateKey, publicKey } = await Jose.generateKeyPair("ES256")
  const jwk = await Jose.exportJWK(publicKey)
  return { privateKey, jwk, jkt: await Jose.calculateJwkThumbprint(jwk, "sha256") }
})

interface ProofInput {
  readonly method: string
  readonly url: string
  readonly token?: string | undefined
  readonly nonce?: string | undefined
  readonly jti?: string | undefined
  /** Overrides `ath` (a wrong one). */
  readonly ath?: string | undefined
  /** Overrides the header's `jwk`. */
  readonly jwk?: Jose.JWK | undefined
}

/** A proof by `key`, `iat` from the test's Clock (what the server reads too). */
const proof = (key: Key, input: ProofInput) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.promise(() =>
      new Jose.SignJWT({
        htm: input.method,
        htu: input.url,
        jti: input.jti ?? Hashing.randomId(16),
        iat: Math.floor(now / 1000),
        ...(input.nonce === undefined ? {} : { nonce: input.nonce }),
        ...(input.ath !== undefined
          ? { ath: input.ath }
          : input.token === undefined
          ? {}
          : { ath: Hashing.sha256Base64Url(input.token) })
      }).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: input.jwk ?? key.jwk }).sign(key.privateKey)
    ))

const code = (server: TestServer, proofKeyThumbprint?: string) =>
  Effect.map(
    server.grants.issue({
      subject: "owner",
      scopes: ["read:hello", "read:access", "write:access"],
      ...(proofKeyThumbprint === undefined ? {} : { proofKeyThumbprint })
    }),
    (issued) => Redacted.value(issued.credential)
  )

const bootstrapUrl = (server: TestServer) => `${server.origin}/api/auth/bootstrap/bearer`

/** The first bootstrap attempt without a nonce: 400 use_dpop_nonce and the nonce to retry with. */
const firstNonce = (server: TestServer, key: Key) =>
  Effect.gen(function*() {
    const first = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: "0000-0000-0000-0000" }, {
      dpop: yield* proof(key, { method: "POST", url: bootstrapUrl(server) })
    })
    assert.strictEqual(first.status, 400, first.text)
    assert.deepStrictEqual(Object.keys(first.json).sort(), ["error", "error_description"])
    assert.strictEqual(first.json.error, "use_dpop_nonce")
    const nonce = first.headers["dpop-nonce"]
    assert.isString(nonce)
    return nonce as string
  })

/** A session bound to `key` by the bearer bootstrap (nonce dance included). */
const boundSession = (server: TestServer, key: Key) =>
  Effect.gen(function*() {
    const nonce = yield* firstNonce(server, key)
    const response = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) }, {
      dpop: yield* proof(key, { method: "POST", url: bootstrapUrl(server), nonce })
    })
    assert.strictEqual(response.status, 200, response.text)
    return {
      token: response.json.accessToken as string,
      nonce: response.headers["dpop-nonce"] as string,
      json: response.json
    }
  })

/** A request with `Authorization: DPoP` and a proof for it. */
const dpopRequest = (
  server: TestServer,
  key: Key,
  options: {
    readonly method?: string
    readonly path: string
    readonly token: string
    readonly nonce?: string | undefined
    readonly body?: unknown
    readonly proof?: Partial<ProofInput>
  }
) =>
  Effect.gen(function*() {
    const method = options.method ?? "GET"
    const dpop = yield* proof(key, {
      method,
      url: `${server.origin}${options.path}`,
      token: options.token,
      nonce: options.nonce,
      ...options.proof
    })
    return yield* request(server.port, {
      method,
      path: options.path,
      headers: {
        authorization: `DPoP ${options.token}`,
        dpop,
        ...(options.body === undefined ? {} : jsonHeaders)
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body)
    })
  })

const challenges = (response: { readonly headers: Record<string, unknown> }) =>
  String(response.headers["www-authenticate"] ?? "")

/** Both challenges, the DPoP one with its algorithms. */
const assertBothChallenges = (response: { readonly headers: Record<string, unknown> }) => {
  const header = challenges(response)
  assert.match(header, /^Bearer\b/, header)
  assert.match(header, /DPoP [^]*algs="ES256 Ed25519 EdDSA"/, header)
}

describe("DPoP-bound credentials", () => {
  it.effect("bound bootstrap: the first try is 400 use_dpop_nonce, the retry 200 DPoP; the list shows the jkt", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      assert.strictEqual(bound.json.tokenType, "DPoP")
      assert.strictEqual(bound.json.session.jkt, key.jkt)
      assert.isString(bound.nonce)
      const listed = yield* dpopRequest(server, key, {
        path: "/api/auth/sessions",
        token: bound.token,
        nonce: bound.nonce
      })
      assert.strictEqual(listed.status, 200, listed.text)
      const mine = listed.json.sessions.find((each: any) => each.id === bound.json.session.id)
      assert.strictEqual(mine.jkt, key.jkt)
      // An unbound bearer bootstrap still answers Bearer and lists no jkt.
      const plain = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) })
      assert.strictEqual(plain.status, 200, plain.text)
      assert.strictEqual(plain.json.tokenType, "Bearer")
      assert.notProperty(plain.json.session, "jkt")
    }))

  it.effect("/api/hello with a proof is 200 and carries the next DPoP-Nonce", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const hello = yield* dpopRequest(server, key, { path: "/api/hello", token: bound.token, nonce: bound.nonce })
      assert.strictEqual(hello.status, 200, hello.text)
      assert.deepStrictEqual(hello.json, { hello: "owner" })
      assert.isString(hello.headers["dpop-nonce"])
    }))

  it.effect("a proof without a nonce at a route is 401 use_dpop_nonce with a DPoP-Nonce; the retry passes", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const first = yield* dpopRequest(server, key, { path: "/api/hello", token: bound.token })
      assert.strictEqual(first.status, 401, first.text)
      assert.strictEqual(first.json.error.code, "use_dpop_nonce")
      assert.match(challenges(first), /DPoP error="use_dpop_nonce", algs="ES256 Ed25519 EdDSA"/)
      assertBothChallenges(first)
      const nonce = first.headers["dpop-nonce"] as string
      assert.isString(nonce)
      const retry = yield* dpopRequest(server, key, { path: "/api/hello", token: bound.token, nonce })
      assert.strictEqual(retry.status, 200, retry.text)
    }))

  it.effect("the bound token presented as Bearer is 401 invalid_token with both challenges", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const stolen = yield* request(server.port, { path: "/api/hello", headers: bearer(bound.token) })
      assert.strictEqual(stolen.status, 401, stolen.text)
      assert.match(challenges(stolen), /DPoP error="invalid_token"/)
      assertBothChallenges(stolen)
      // The session endpoint does not vouch for it either.
      const state = yield* request(server.port, { path: "/api/auth/session", headers: bearer(bound.token) })
      assert.strictEqual(state.json.authenticated, false)
    }))

  it.effect("a proof by another key is 401 invalid_token", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const other = yield* newKey
      const bound = yield* boundSession(server, key)
      const response = yield* dpopRequest(server, other, { path: "/api/hello", token: bound.token, nonce: bound.nonce })
      assert.strictEqual(response.status, 401, response.text)
      assert.strictEqual(response.json.error.code, "invalid_credential")
      assert.match(challenges(response), /DPoP error="invalid_token"/)
      assertBothChallenges(response)
    }))

  it.effect("a proof whose ath is not the token's hash is 401 invalid_dpop_proof", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const response = yield* dpopRequest(server, key, {
        path: "/api/hello",
        token: bound.token,
        nonce: bound.nonce,
        proof: { ath: Hashing.sha256Base64Url(`${bound.token}x`) }
      })
      assert.strictEqual(response.status, 401, response.text)
      assert.strictEqual(response.json.error.code, "invalid_dpop_proof")
      assert.match(challenges(response), /DPoP error="invalid_dpop_proof"/)
      assertBothChallenges(response)
    }))

  it.effect("a proof for another URL (htu) or method (htm) is refused; the query is not part of htu", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const wrongUrl = yield* dpopRequest(server, key, {
        path: "/api/hello",
        token: bound.token,
        nonce: bound.nonce,
        proof: { url: `${server.origin}/api/auth/sessions` }
      })
      assert.strictEqual(wrongUrl.status, 401, wrongUrl.text)
      assert.strictEqual(wrongUrl.json.error.code, "invalid_dpop_proof")
      const wrongMethod = yield* dpopRequest(server, key, {
        path: "/api/hello",
        token: bound.token,
        nonce: bound.nonce,
        proof: { method: "POST" }
      })
      assert.strictEqual(wrongMethod.status, 401, wrongMethod.text)
      const withQuery = yield* dpopRequest(server, key, {
        path: "/api/hello?x=1",
        token: bound.token,
        nonce: bound.nonce,
        proof: { url: `${server.origin}/api/hello` }
      })
      assert.strictEqual(withQuery.status, 200, withQuery.text)
    }))

  it.effect("a reused jti is 401 invalid_dpop_proof", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const once = { path: "/api/hello", token: bound.token, nonce: bound.nonce, proof: { jti: "the-same-jti" } }
      const first = yield* dpopRequest(server, key, once)
      assert.strictEqual(first.status, 200, first.text)
      const second = yield* dpopRequest(server, key, once)
      assert.strictEqual(second.status, 401, second.text)
      assert.strictEqual(second.json.error.code, "invalid_dpop_proof")
    }))

  it.effect("the same proof sent by many at once is accepted exactly once", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const dpop = yield* proof(key, {
        method: "GET",
        url: `${server.origin}/api/hello`,
        token: bound.token,
        nonce: bound.nonce
      })
      const responses = yield* Effect.forEach(
        Array.from({ length: 12 }),
        () => request(server.port, { path: "/api/hello", headers: { authorization: `DPoP ${bound.token}`, dpop } }),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(responses.filter((each) => each.status === 200).length, 1)
      assert.isTrue(responses.every((each) => each.status === 200 || each.status === 401))
    }))

  it.effect("an unbound session presented as DPoP is refused (invalid_token): the scheme must match", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const plain = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) })
      const token = plain.json.accessToken as string
      const first = yield* dpopRequest(server, key, { path: "/api/hello", token })
      const nonce = first.headers["dpop-nonce"] as string
      const response = yield* dpopRequest(server, key, { path: "/api/hello", token, nonce })
      assert.strictEqual(response.status, 401, response.text)
      assert.match(challenges(response), /DPoP error="invalid_token"/)
      // As Bearer it works as it always did.
      const asBearer = yield* request(server.port, { path: "/api/hello", headers: bearer(token) })
      assert.strictEqual(asBearer.status, 200, asBearer.text)
    }))

  it.effect("an unbound request's 401 carries both challenges once a verifier is there", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const none = yield* request(server.port, { path: "/api/hello" })
      assert.strictEqual(none.status, 401)
      assertBothChallenges(none)
      const bad = yield* request(server.port, { path: "/api/hello", headers: bearer("nonsense") })
      assert.strictEqual(bad.status, 401)
      assert.match(challenges(bad), /^Bearer error="invalid_token", DPoP algs=/)
    }))

  it.effect("a pairing grant issued for a key is consumed only with a proof by that key", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const other = yield* newKey
      const credential = yield* code(server, key.jkt)
      const nonce = yield* firstNonce(server, key)
      const withoutProof = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential })
      assert.strictEqual(withoutProof.status, 401, withoutProof.text)
      const wrongKey = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential }, {
        dpop: yield* proof(other, { method: "POST", url: bootstrapUrl(server), nonce })
      })
      assert.strictEqual(wrongKey.status, 401, wrongKey.text)
      const rightKey = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential }, {
        dpop: yield* proof(key, { method: "POST", url: bootstrapUrl(server), nonce })
      })
      assert.strictEqual(rightKey.status, 200, rightKey.text)
      assert.strictEqual(rightKey.json.session.jkt, key.jkt)
    }))

  it.effect("POST /api/auth/pairing-links with proofKeyThumbprint makes a link only that key can use", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const device = yield* newKey
      const link = yield* dpopRequest(server, key, {
        method: "POST",
        path: "/api/auth/pairing-links",
        token: bound.token,
        nonce: bound.nonce,
        body: { proofKeyThumbprint: device.jkt, scopes: ["read:hello"] }
      })
      assert.strictEqual(link.status, 201, link.text)
      const credential = link.json.credential as string
      const refused = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential })
      assert.strictEqual(refused.status, 401, refused.text)
      const nonce = yield* firstNonce(server, device)
      const paired = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential }, {
        dpop: yield* proof(device, { method: "POST", url: bootstrapUrl(server), nonce })
      })
      assert.strictEqual(paired.status, 200, paired.text)
      assert.strictEqual(paired.json.session.jkt, device.jkt)
    }))

  it.effect("a replay store that fails makes a bound request 503, after the token checked out", () =>
    Effect.gen(function*() {
      const failing = Layer.succeed(
        DpopReplayStore.DpopReplayStore,
        DpopReplayStore.DpopReplayStore.of({
          record: () =>
            Effect.fail(new Errors.StoreError({ store: "dpop-replay", operation: "record a proof", cause: "down" }))
        })
      )
      const server = yield* startServer({ dpop: {}, dpopReplayStore: failing })
      const key = yield* newKey
      // The bootstrap records its proof too: 503, and the code is not used.
      const nonce = yield* firstNonce(server, key)
      const credential = yield* code(server)
      const bootstrap = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential }, {
        dpop: yield* proof(key, { method: "POST", url: bootstrapUrl(server), nonce })
      })
      assert.strictEqual(bootstrap.status, 503, bootstrap.text)
      // A session bound directly through the core, then used: 503, not a 401.
      const { token } = yield* server.sessions.issue({
        subject: "owner",
        scopes: ["read:hello"],
        method: "pairing",
        transport: "bearer",
        jkt: key.jkt
      })
      const hello = yield* dpopRequest(server, key, { path: "/api/hello", token: Redacted.value(token), nonce })
      assert.strictEqual(hello.status, 503, hello.text)
      // A forged token never reaches the store: 401.
      const forged = yield* dpopRequest(server, key, { path: "/api/hello", token: "forged.token.value", nonce })
      assert.strictEqual(forged.status, 401, forged.text)
    }))

  it.effect("a WebSocket ticket is minted by a bound session only with a proof", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {} })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const asBearer = yield* request(server.port, {
        method: "POST",
        path: "/api/auth/ws-ticket",
        headers: bearer(bound.token)
      })
      assert.strictEqual(asBearer.status, 401, asBearer.text)
      const ticket = yield* dpopRequest(server, key, {
        method: "POST",
        path: "/api/auth/ws-ticket",
        token: bound.token,
        nonce: bound.nonce
      })
      assert.strictEqual(ticket.status, 200, ticket.text)
      assert.isString(ticket.json.ticket)
    }))

  it.effect("a nonce minted by instance A is accepted by instance B (one keyring and one session store)", () =>
    Effect.gen(function*() {
      const a = yield* startServer({ dpop: {} })
      const b = yield* startServer({
        dpop: {},
        shared: { keyring: a.keyring, sessionStore: a.sessionStore }
      })
      const key = yield* newKey
      const bound = yield* boundSession(a, key)
      const onB = yield* dpopRequest(b, key, { path: "/api/hello", token: bound.token, nonce: bound.nonce })
      assert.strictEqual(onB.status, 200, onB.text)
    }))

  it.effect("with nonces off, a proof without a nonce is accepted at once", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: { nonces: false } })
      const key = yield* newKey
      const response = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) }, {
        dpop: yield* proof(key, { method: "POST", url: bootstrapUrl(server) })
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.strictEqual(response.json.tokenType, "DPoP")
      const hello = yield* dpopRequest(server, key, { path: "/api/hello", token: response.json.accessToken })
      assert.strictEqual(hello.status, 200, hello.text)
    }))

  it.effect("without a verifier nothing changes: a DPoP header is ignored at the bootstrap", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const key = yield* newKey
      const response = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) }, {
        dpop: yield* proof(key, { method: "POST", url: bootstrapUrl(server) })
      })
      assert.strictEqual(response.status, 200, response.text)
      assert.strictEqual(response.json.tokenType, "Bearer")
      const none = yield* request(server.port, { path: "/api/hello" })
      assert.strictEqual(challenges(none), "Bearer")
    }))
})

describe("DPoP-bound access tokens", () => {
  it.effect("a bound session minting without a proof is refused; with one the token carries cnf.jkt", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {}, accessTokens: true })
      const key = yield* newKey
      const bound = yield* boundSession(server, key)
      const asBearer = yield* postJson(server.port, "/api/auth/tokens", { scopes: ["read:hello"] }, bearer(bound.token))
      assert.strictEqual(asBearer.status, 401, asBearer.text)
      assert.notProperty(asBearer.json, "token")
      const minted = yield* dpopRequest(server, key, {
        method: "POST",
        path: "/api/auth/tokens",
        token: bound.token,
        nonce: bound.nonce,
        body: { scopes: ["read:hello"] }
      })
      assert.strictEqual(minted.status, 200, minted.text)
      assert.strictEqual(minted.json.tokenType, "DPoP")
      const claims = Jose.decodeJwt(minted.json.token)
      assert.deepStrictEqual(claims.cnf, { jkt: key.jkt })
    }))

  it.effect("the core refuses an unbound token for a bound session", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {}, accessTokens: true })
      const key = yield* newKey
      const { session } = yield* server.sessions.issue({
        subject: "owner",
        scopes: ["read:hello"],
        method: "pairing",
        transport: "bearer",
        jkt: key.jkt
      })
      const tokens = Option.getOrThrow(server.accessTokens)
      const refused = yield* Effect.flip(tokens.mint({ session, scopes: ["read:hello"] }))
      assert.strictEqual(refused._tag, "InvalidRequest")
      const other = yield* newKey
      const wrongKey = yield* Effect.flip(tokens.mint({ session, scopes: ["read:hello"], jkt: other.jkt }))
      assert.strictEqual(wrongKey._tag, "InvalidRequest")
      const minted = yield* tokens.mint({ session, scopes: ["read:hello"], jkt: key.jkt })
      const verified = yield* tokens.verify(minted.token)
      assert.strictEqual(verified.jkt, key.jkt)
    }))

  it.effect("an access token with cnf.jkt works only with a proof by its key", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {}, accessTokens: true })
      const key = yield* newKey
      const other = yield* newKey
      const bound = yield* boundSession(server, key)
      const minted = yield* dpopRequest(server, key, {
        method: "POST",
        path: "/api/auth/tokens",
        token: bound.token,
        nonce: bound.nonce,
        body: { scopes: ["read:hello"] }
      })
      assert.strictEqual(minted.status, 200, minted.text)
      const token = minted.json.token as string
      const nonce = minted.headers["dpop-nonce"] as string
      const asBearer = yield* request(server.port, { path: "/api/hello", headers: bearer(token) })
      assert.strictEqual(asBearer.status, 401, asBearer.text)
      assertBothChallenges(asBearer)
      const otherKey = yield* dpopRequest(server, other, { path: "/api/hello", token, nonce })
      assert.strictEqual(otherKey.status, 401, otherKey.text)
      const ownKey = yield* dpopRequest(server, key, { path: "/api/hello", token, nonce })
      assert.strictEqual(ownKey.status, 200, ownKey.text)
    }))

  it.effect("an unbound bearer session with a proof mints a bound token; without one an unbound token", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ dpop: {}, accessTokens: true })
      const key = yield* newKey
      const plain = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential: yield* code(server) })
      const session = plain.json.accessToken as string
      const unbound = yield* postJson(server.port, "/api/auth/tokens", { scopes: ["read:hello"] }, bearer(session))
      assert.strictEqual(unbound.status, 200, unbound.text)
      assert.strictEqual(unbound.json.tokenType, "Bearer")
      assert.isUndefined(Jose.decodeJwt(unbound.json.token).cnf)
      const url = `${server.origin}/api/auth/tokens`
      // The token endpoint answers a missing nonce with a 400 in the RFC 6749 shape.
      const first = yield* postJson(server.port, "/api/auth/tokens", { scopes: ["read:hello"] }, {
        ...bearer(session),
        dpop: yield* proof(key, { method: "POST", url, token: session })
      })
      assert.strictEqual(first.status, 400, first.text)
      assert.strictEqual(first.json.error, "use_dpop_nonce")
      assert.isString(first.json.error_description)
      const nonce = first.headers["dpop-nonce"] as string
      const boundToken = yield* postJson(server.port, "/api/auth/tokens", { scopes: ["read:hello"] }, {
        ...bearer(session),
        dpop: yield* proof(key, { method: "POST", url, token: session, nonce })
      })
      assert.strictEqual(boundToken.status, 200, boundToken.text)
      assert.strictEqual(boundToken.json.tokenType, "DPoP")
      assert.deepStrictEqual(Jose.decodeJwt(boundToken.json.token).cnf, { jkt: key.jkt })
      // A bad proof at the token endpoint: 400 invalid_dpop_proof, RFC 6749 shape.
      const bad = yield* postJson(server.port, "/api/auth/tokens", { scopes: ["read:hello"] }, {
        ...bearer(session),
        dpop: yield* proof(key, { method: "GET", url, token: session, nonce })
      })
      assert.strictEqual(bad.status, 400, bad.text)
      assert.deepStrictEqual(Object.keys(bad.json).sort(), ["error", "error_description"])
      assert.strictEqual(bad.json.error, "invalid_dpop_proof")
    }))
})
