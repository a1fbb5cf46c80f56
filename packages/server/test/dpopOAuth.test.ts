/**
 * DPoP at the OAuth authorization server of the reference server: a code exchanged with a proof
 * binds the grant (access tokens with `cnf.jkt`, `token_type: "DPoP"`, refresh only with the key),
 * token-endpoint errors in the RFC 6749 shape, the metadata, and `/mcp` with a bound token.
 * Proofs are made with `jose` directly.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Jose from "jose"
import { newKey, proof } from "./dpopProofs.ts"
import { approveInBrowser, authorizationUrl, mcpInitialize, newFlow, pairBrowser, postToken, start } from "./oauth.ts"

describe("DPoP at the OAuth authorization server", () => {
  it.live(
    "a code exchanged with a proof gives DPoP tokens; refresh needs the key; /mcp needs the proof",
    () =>
      Effect.gen(function*() {
        const server = yield* start()
        const cookie = yield* pairBrowser(server)
        const flow = yield* newFlow(server.origin)
        const key = yield* newKey
        const other = yield* newKey
        const tokenUrl = `${server.origin}/oauth/token`
        const callback = yield* approveInBrowser(authorizationUrl(flow), cookie)
        const exchange = {
          grant_type: "authorization_code",
          code: callback.searchParams.get("code")!,
          client_id: flow.clientId,
          redirect_uri: flow.redirectUri,
          code_verifier: flow.verifier,
          resource: `${server.origin}/mcp`
        }

        // The first try has no nonce: 400 use_dpop_nonce, RFC 6749 shape, and the code is not spent.
        const first = yield* postToken(tokenUrl, exchange, { dpop: yield* proof(key, "POST", tokenUrl) })
        assert.strictEqual(first.status, 400, first.text)
        assert.deepStrictEqual(Object.keys(first.json).sort(), ["error", "error_description"])
        assert.strictEqual(first.json.error, "use_dpop_nonce")
        const nonce = first.headers.get("dpop-nonce")!
        assert.isString(nonce)

        // A bad proof: 400 invalid_dpop_proof in the same shape.
        const bad = yield* postToken(tokenUrl, exchange, { dpop: yield* proof(key, "GET", tokenUrl, { nonce }) })
        assert.strictEqual(bad.status, 400, bad.text)
        assert.deepStrictEqual(Object.keys(bad.json).sort(), ["error", "error_description"])
        assert.strictEqual(bad.json.error, "invalid_dpop_proof")

        const tokens = yield* postToken(tokenUrl, exchange, { dpop: yield* proof(key, "POST", tokenUrl, { nonce }) })
        assert.strictEqual(tokens.status, 200, tokens.text)
        assert.strictEqual(tokens.json.token_type, "DPoP")
        assert.deepStrictEqual(Jose.decodeJwt(tokens.json.access_token).cnf, { jkt: key.jkt })
        assert.isString(tokens.headers.get("dpop-nonce"))
        const accessToken = tokens.json.access_token as string

        // /mcp: as Bearer 401 (both challenges); with a proof by another key 401; with its own 200.
        const mcpUrl = `${server.origin}/mcp`
        const asBearer = yield* mcpInitialize(server.origin, { authorization: `Bearer ${accessToken}` })
        assert.strictEqual(asBearer.status, 401)
        assert.match(asBearer.headers.get("www-authenticate")!, /^Bearer.*DPoP error="invalid_token", algs="/)
        const wrongKey = yield* mcpInitialize(server.origin, {
          authorization: `DPoP ${accessToken}`,
          dpop: yield* proof(other, "POST", mcpUrl, { token: accessToken, nonce })
        })
        assert.strictEqual(wrongKey.status, 401)
        const ownKey = yield* mcpInitialize(server.origin, {
          authorization: `DPoP ${accessToken}`,
          dpop: yield* proof(key, "POST", mcpUrl, { token: accessToken, nonce })
        })
        assert.strictEqual(ownKey.status, 200)
        assert.isString(ownKey.headers.get("dpop-nonce"))

        // The refresh family is bound: without a proof, or with another key, invalid_grant, and the
        // refresh token is not rotated (it still works with the key afterwards).
        const refresh = {
          grant_type: "refresh_token",
          refresh_token: tokens.json.refresh_token,
          client_id: flow.clientId
        }
        const noProof = yield* postToken(tokenUrl, refresh)
        assert.strictEqual(noProof.status, 400, noProof.text)
        assert.strictEqual(noProof.json.error, "invalid_grant")
        const otherProof = yield* postToken(tokenUrl, refresh, {
          dpop: yield* proof(other, "POST", tokenUrl, { nonce })
        })
        assert.strictEqual(otherProof.status, 400, otherProof.text)
        assert.strictEqual(otherProof.json.error, "invalid_grant")
        const refreshed = yield* postToken(tokenUrl, refresh, { dpop: yield* proof(key, "POST", tokenUrl, { nonce }) })
        assert.strictEqual(refreshed.status, 200, refreshed.text)
        assert.strictEqual(refreshed.json.token_type, "DPoP")
        assert.deepStrictEqual(Jose.decodeJwt(refreshed.json.access_token).cnf, { jkt: key.jkt })
      }),
    60_000
  )

  it.live("a code exchanged without a proof gives Bearer tokens as before", () =>
    Effect.gen(function*() {
      const server = yield* start()
      const cookie = yield* pairBrowser(server)
      const flow = yield* newFlow(server.origin)
      const callback = yield* approveInBrowser(authorizationUrl(flow), cookie)
      const tokens = yield* postToken(`${server.origin}/oauth/token`, {
        grant_type: "authorization_code",
        code: callback.searchParams.get("code")!,
        client_id: flow.clientId,
        redirect_uri: flow.redirectUri,
        code_verifier: flow.verifier,
        resource: `${server.origin}/mcp`
      })
      assert.strictEqual(tokens.status, 200, tokens.text)
      assert.strictEqual(tokens.json.token_type, "Bearer")
      assert.isUndefined(Jose.decodeJwt(tokens.json.access_token).cnf)
      const ok = yield* mcpInitialize(server.origin, { authorization: `Bearer ${tokens.json.access_token}` })
      assert.strictEqual(ok.status, 200)
    }), 60_000)

  it.live(
    "the metadata documents list the DPoP algorithms; requireDpop says bound tokens are required",
    () =>
      Effect.gen(function*() {
        const server = yield* start()
        const metadata = yield* Effect.promise(() =>
          fetch(`${server.origin}/.well-known/oauth-authorization-server`).then((response) => response.json() as any)
        )
        assert.deepStrictEqual(metadata.dpop_signing_alg_values_supported, ["ES256", "Ed25519", "EdDSA"])
        const resource = yield* Effect.promise(() =>
          fetch(`${server.origin}/.well-known/oauth-protected-resource/mcp`).then((response) => response.json() as any)
        )
        assert.deepStrictEqual(resource.dpop_signing_alg_values_supported, ["ES256", "Ed25519", "EdDSA"])
        assert.isUndefined(resource.dpop_bound_access_tokens_required)

        const strict = yield* start({ requireDpop: true })
        const strictResource = yield* Effect.promise(() =>
          fetch(`${strict.origin}/.well-known/oauth-protected-resource/mcp`).then((response) => response.json() as any)
        )
        assert.strictEqual(strictResource.dpop_bound_access_tokens_required, true)
        // And the token endpoint refuses a request without a proof.
        const refused = yield* postToken(`${strict.origin}/oauth/token`, { grant_type: "refresh_token" })
        assert.strictEqual(refused.status, 400)
        assert.strictEqual(refused.json.error, "invalid_dpop_proof")
      }),
    60_000
  )
})
