/**
 * DPoP on the reference server, end to end over real HTTP: `gatehouse serve` as a child process,
 * paired through the bearer flow with a proof made by `jose` (an outside client), then
 * `/api/hello` and a bound access token; the bound token without the key gets 401.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Jose from "jose"
import { newKey, proof } from "./dpopProofs.ts"
import { pairingUrl, request, serve, waitFor } from "./helpers.ts"

describe("DPoP on gatehouse serve", () => {
  it.live(
    "pairs bound with a proof (after the nonce challenge), calls /api/hello and mints a bound token",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const port = yield* freePort
        const served = yield* serve(["--port", String(port), "--state-dir", stateDir])
        const pairing = yield* pairingUrl(served)
        yield* waitFor(served, /It works once/)
        const origin = pairing.origin
        const key = yield* newKey
        const bootstrapUrl = `${origin}/api/auth/bootstrap/bearer`

        const first = yield* request(bootstrapUrl, {
          method: "POST",
          headers: { dpop: yield* proof(key, "POST", bootstrapUrl) },
          body: { credential: pairing.token }
        })
        assert.strictEqual(first.status, 400, first.text)
        assert.strictEqual(first.json.error, "use_dpop_nonce")
        const nonce = first.headers["dpop-nonce"] as string

        const paired = yield* request(bootstrapUrl, {
          method: "POST",
          headers: { dpop: yield* proof(key, "POST", bootstrapUrl, { nonce }) },
          body: { credential: pairing.token }
        })
        assert.strictEqual(paired.status, 200, paired.text)
        assert.strictEqual(paired.json.tokenType, "DPoP")
        assert.strictEqual(paired.json.session.jkt, key.jkt)
        const token = paired.json.accessToken as string
        const next = paired.headers["dpop-nonce"] as string

        const helloUrl = `${origin}/api/hello`
        const hello = yield* request(helloUrl, {
          headers: { authorization: `DPoP ${token}`, dpop: yield* proof(key, "GET", helloUrl, { token, nonce: next }) }
        })
        assert.strictEqual(hello.status, 200, hello.text)
        assert.isString(hello.headers["dpop-nonce"])

        // Copied out without the key: worthless.
        const stolen = yield* request(helloUrl, { headers: bearer(token) })
        assert.strictEqual(stolen.status, 401, stolen.text)
        assert.match(String(stolen.headers["www-authenticate"]), /DPoP error="invalid_token", algs="/)

        const tokensUrl = `${origin}/api/auth/tokens`
        const minted = yield* request(tokensUrl, {
          method: "POST",
          headers: {
            authorization: `DPoP ${token}`,
            dpop: yield* proof(key, "POST", tokensUrl, { token, nonce: next })
          },
          body: { scopes: ["read:hello"] }
        })
        assert.strictEqual(minted.status, 200, minted.text)
        assert.strictEqual(minted.json.tokenType, "DPoP")
        assert.deepStrictEqual(Jose.decodeJwt(minted.json.token).cnf, { jkt: key.jkt })
        const unbound = yield* request(tokensUrl, {
          method: "POST",
          headers: bearer(token),
          body: { scopes: ["read:hello"] }
        })
        assert.strictEqual(unbound.status, 401, unbound.text)
      }),
    60_000
  )

  it.live(
    "GATEHOUSE_DPOP_NONCE_STEP rotates the nonce; GATEHOUSE_DPOP_NONCES=false turns nonces off",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir], {
          env: { GATEHOUSE_DPOP_NONCE_STEP: "1s" }
        })
        const pairing = yield* pairingUrl(served)
        const key = yield* newKey
        const url = `${pairing.origin}/api/auth/bootstrap/bearer`
        const nonceNow = Effect.map(
          Effect.flatMap(
            proof(key, "POST", url),
            (dpop) => request(url, { method: "POST", headers: { dpop }, body: { credential: "0000-0000-0000-0000" } })
          ),
          (response) => response.headers["dpop-nonce"] as string
        )
        const before = yield* nonceNow
        yield* Effect.sleep("2100 millis")
        const after = yield* nonceNow
        assert.notStrictEqual(before, after)

        const off = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory], {
          env: { GATEHOUSE_DPOP_NONCES: "false" }
        })
        const offPairing = yield* pairingUrl(off)
        const offUrl = `${offPairing.origin}/api/auth/bootstrap/bearer`
        const paired = yield* request(offUrl, {
          method: "POST",
          headers: { dpop: yield* proof(key, "POST", offUrl) },
          body: { credential: offPairing.token }
        })
        assert.strictEqual(paired.status, 200, paired.text)
        assert.strictEqual(paired.json.tokenType, "DPoP")
      }),
    60_000
  )

  it.live(
    "gatehouse serve --require-dpop: the bearer pairing needs a proof; with one it pairs bound; the metadata says so",
    () =>
      Effect.gen(function*() {
        const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory, "--require-dpop"])
        const pairing = yield* pairingUrl(served)
        const url = `${pairing.origin}/api/auth/bootstrap/bearer`
        const unbound = yield* request(url, { method: "POST", body: { credential: pairing.token } })
        assert.strictEqual(unbound.status, 400, unbound.text)
        assert.strictEqual(unbound.json.error, "invalid_dpop_proof")
        const metadata = yield* request(`${pairing.origin}/.well-known/oauth-protected-resource/mcp`)
        assert.strictEqual(metadata.status, 200, metadata.text)
        assert.strictEqual(metadata.json.dpop_bound_access_tokens_required, true)
        // The code was not spent by the refusal: a proof (after the nonce challenge) pairs with it.
        const key = yield* newKey
        const challenge = yield* request(url, {
          method: "POST",
          headers: { dpop: yield* proof(key, "POST", url) },
          body: { credential: pairing.token }
        })
        assert.strictEqual(challenge.status, 400, challenge.text)
        const nonce = challenge.headers["dpop-nonce"] as string
        const paired = yield* request(url, {
          method: "POST",
          headers: { dpop: yield* proof(key, "POST", url, { nonce }) },
          body: { credential: pairing.token }
        })
        assert.strictEqual(paired.status, 200, paired.text)
        assert.strictEqual(paired.json.tokenType, "DPoP")
        assert.strictEqual(paired.json.session.jkt, key.jkt)
      }),
    60_000
  )
})
