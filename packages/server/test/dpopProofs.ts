/**
 * DPoP proofs for the reference server's tests, made with `jose` directly (an outside client, not
 * `@gatehouse-auth/client/dpop`): an ES256 key with its RFC 7638 thumbprint, and a proof for one
 * request (`ath` when a token rides along, the server's nonce when given).
 */
import { Hashing } from "@gatehouse-auth/core"
import { Effect } from "effect"
import * as Jose from "jose"

export const newKey = Effect.promise(async () => {
  const { privateKey, publicKey } = await Jose.generateKeyPair("ES256")
  const jwk = await Jose.exportJWK(publicKey)
  return { privateKey, jwk, jkt: await Jose.calculateJwkThumbprint(jwk, "sha256") }
})
export type Key = Effect.Success<typeof newKey>

export const proof = (key: Key, method: string, url: string, extra: { token?: string; nonce?: string } = {}) =>
  Effect.promise(() =>
    new Jose.SignJWT({
      htm: method,
      htu: url,
      jti: Hashing.randomId(16),
      iat: Math.floor(Date.now() / 1000),
      ...(extra.nonce === undefined ? {} : { nonce: extra.nonce }),
      ...(extra.token === undefined ? {} : { ath: Hashing.sha256Base64Url(extra.token) })
    }).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: key.jwk }).sign(key.privateKey)
  )
