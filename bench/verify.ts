/**
 * Session verification against its floor and a common alternative, in one process and one run:
 * - `session.verify`: SessionCredentialService.verify with the memory store, inside one fiber
 *   (as an HTTP handler runs it), of one token again and again, as a browser's cookie arrives
 *   (after the first time the verified-token cache answers and the HMAC is skipped);
 * - `session.verify (first sight)`: the same over 20 000 distinct tokens, more than the cache
 *   holds, so nearly every call parses the token and checks its HMAC;
 * - `raw HMAC`: node:crypto HMAC-SHA256 + timingSafeEqual over a payload of the same size;
 * - `jose HS256`: jose `jwtVerify` with a pre-imported key.
 * Targets: verify >= 0.5x raw HMAC, verify >= 5x jose, first sight >= 0.5x raw HMAC (issue 20).
 */
import { Context, Effect, Layer, Redacted } from "effect"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as Sessions from "../packages/core/src/SessionCredentialService.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import { compare, ratio, report } from "./harness.ts"

export const run = async () => {
  const context = await Effect.runPromise(
    Layer.build(
      Sessions.layerMemory().pipe(
        Layer.provide(SigningKeyring.layer()),
        Layer.provide(ServerSecretStore.layerMemory())
      )
    ).pipe(Effect.scoped)
  )
  const sessions = Context.get(context, Sessions.SessionCredentialService)
  const issued = await Effect.runPromise(sessions.issue({
    subject: "owner",
    scopes: ["read:hello", "write:access"],
    method: "pairing",
    client: { label: "bench" }
  }))
  const token = issued.token
  const tokenText = Redacted.value(token)

  // Raw HMAC over the same signing input the session token carries.
  const rawKey = Crypto.randomBytes(32)
  const signingInput = tokenText.slice(0, tokenText.lastIndexOf("."))
  const rawSignature = Crypto.createHmac("sha256", rawKey).update(signingInput).digest()

  const joseKey = new Uint8Array(Crypto.randomBytes(32))
  const jwt = await new Jose.SignJWT({ sid: issued.session.sid, scopes: issued.session.scopes, method: "pairing" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("owner")
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(joseKey)

  const verifyLoop = (iterations: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < iterations; i++) yield* sessions.verify(token)
    })

  const distinct = await Effect.runPromise(
    Effect.forEach(
      Array.from({ length: 20_000 }),
      () =>
        Effect.map(
          sessions.issue({ subject: "owner", scopes: ["read:hello"], method: "pairing" }),
          ({ token }) => token
        )
    )
  )
  let next = 0
  const firstSightLoop = (iterations: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < iterations; i++) yield* sessions.verify(distinct[next++ % distinct.length]!)
    })

  const results = await compare([
    { name: "session.verify", run: (n) => Effect.runSync(verifyLoop(n)) },
    { name: "session.verify (first sight)", run: (n) => Effect.runSync(firstSightLoop(n)) },
    {
      name: "raw HMAC",
      run: (n) => {
        for (let i = 0; i < n; i++) {
          const expected = Crypto.createHmac("sha256", rawKey).update(signingInput).digest()
          if (!Crypto.timingSafeEqual(expected, rawSignature)) throw new Error("bad signature")
        }
      }
    },
    {
      name: "jose HS256",
      run: async (n) => {
        for (let i = 0; i < n; i++) await Jose.jwtVerify(jwt, joseKey, { algorithms: ["HS256"] })
      }
    }
  ])
  report("verify", results, [
    ratio(results, "session.verify / raw HMAC", "session.verify", "raw HMAC", 0.5),
    ratio(results, "session.verify / jose HS256", "session.verify", "jose HS256", 5),
    ratio(results, "first sight / raw HMAC", "session.verify (first sight)", "raw HMAC", 0.5)
  ], { tokenLength: tokenText.length, jwtLength: jwt.length })
}
