/**
 * DPoP proof verification against the reference implementation, in one run:
 * - `DpopVerifier.verify`: RFC 9449 4.3 checks of distinct proofs (ES256, one client key, each proof
 *   with its own `jti`, the server nonce and an `ath`), so every call parses the proof, normalises
 *   `htu`, checks the nonce's HMAC and the ECDSA signature; the imported key is remembered by
 *   thumbprint, as it is for a client that keeps its key;
 * - `jose.jwtVerify (EmbeddedJWK)`: the same proofs verified by jose with the embedded key, `typ`
 *   and the algorithm allow-list and the `iat` age (jose checks neither htm, htu, ath nor the nonce).
 * Target >= 0.9x. (`verifyBench` is exported for the HTTP half of this benchmark.)
 */
import { Context, Effect, Layer } from "effect"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as DpopReplayStore from "../packages/core/src/DpopReplayStore.ts"
import * as DpopVerifier from "../packages/core/src/DpopVerifier.ts"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import { compare, ratio, report, smoke } from "./harness.ts"

const url = "http://127.0.0.1:3773/api/hello"
const token = "bench-access-token"

export const verifyBench = async () => {
  const context = await Effect.runPromise(
    Layer.build(
      DpopVerifier.layer().pipe(
        Layer.provide(DpopReplayStore.layerMemory),
        Layer.provide(SigningKeyring.layer()),
        Layer.provide(ServerSecretStore.layerMemory())
      )
    ).pipe(Effect.scoped)
  )
  const verifier = Context.get(context, DpopVerifier.DpopVerifier)
  const nonce = await Effect.runPromise(verifier.nonce)
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
  const jwk = publicKey.export({ format: "jwk" })
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const header = encode({ typ: "dpop+jwt", alg: "ES256", jwk })
  const ath = Crypto.createHash("sha256").update(token).digest("base64url")
  const iat = Math.floor(Date.now() / 1000)
  const proofs = Array.from({ length: smoke ? 500 : 20_000 }, (_, i) => {
    const input = `${header}.${
      encode({ jti: `bench-${i}-${Crypto.randomUUID()}`, htm: "GET", htu: url, iat, nonce, ath })
    }`
    const signature = Crypto.sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" })
    return `${input}.${signature.toString("base64url")}`
  })
  const joseOptions = { typ: "dpop+jwt", algorithms: ["ES256", "Ed25519", "EdDSA"], maxTokenAge: 60 }

  let next = 0
  let nextJose = 0
  const verifyLoop = (n: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) {
        yield* verifier.verify({ proofs: [proofs[next++ % proofs.length]!], method: "GET", url, accessToken: token })
      }
    })

  const results = await compare([
    { name: "DpopVerifier.verify", run: (n) => Effect.runSync(verifyLoop(n)) },
    {
      name: "jose.jwtVerify (EmbeddedJWK)",
      run: async (n) => {
        for (let i = 0; i < n; i++) {
          await Jose.jwtVerify(proofs[nextJose++ % proofs.length]!, Jose.EmbeddedJWK, joseOptions)
        }
      }
    }
  ])
  return {
    results,
    ratios: [
      ratio(results, "proof verify / jose.jwtVerify", "DpopVerifier.verify", "jose.jwtVerify (EmbeddedJWK)", 0.9)
    ],
    proofLength: proofs[0]!.length
  }
}

export const run = async (): Promise<void> => {
  const { proofLength, ratios, results } = await verifyBench()
  report("dpop", results, ratios, { proofLength })
}
