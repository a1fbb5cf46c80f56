// DpopVerifier: every RFC 9449 4.3 check, each refused on its own; nonces across steps and
// instances; the replay rule by iat + window (TestClock); proofs made by jose accepted; fuzzed
// proofs never accepted and never a defect.
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Jose from "jose"
import * as DpopReplayStore from "../src/DpopReplayStore.ts"
import * as DpopVerifier from "../src/DpopVerifier.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"
import { athOf, makeKey, proof, type ProofInput } from "./fixtures/dpop.ts"

const url = "https://gatehouse.example/api/hello"

/** A fresh memory secret store (a new layer value each time: layers are memoised by identity). */
const secretStore = Effect.suspend(() =>
  Effect.service(ServerSecretStore.ServerSecretStore).pipe(Effect.provide(ServerSecretStore.layerMemory()))
)

/** A verifier and its keyring over `secrets` (a store shared by two "instances" is one store). */
const instanceOver = (secrets: ServerSecretStore.ServerSecretStoreShape, options: DpopVerifier.Options = {}) =>
  Layer.build(
    DpopVerifier.layer(options).pipe(
      Layer.provideMerge(SigningKeyring.layer()),
      Layer.provideMerge(DpopReplayStore.layerMemoryWith({})),
      Layer.provide(Layer.succeed(ServerSecretStore.ServerSecretStore, secrets))
    )
  ).pipe(Effect.map((context) => ({
    verifier: Context.get(context, DpopVerifier.DpopVerifier),
    keyring: Context.get(context, SigningKeyring.SigningKeyring)
  })))

const instance = (options: DpopVerifier.Options = {}) => Effect.flatMap(secretStore, (s) => instanceOver(s, options))

const reasonOf = <A>(exit: Exit.Exit<A, DpopVerifier.InvalidDpopProof | DpopVerifier.DpopNonceRequired>) => {
  if (Exit.isSuccess(exit)) return "accepted"
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (error === undefined) return "defect"
  const failure = error.error
  return failure._tag === "DpopNonceRequired" ? "NonceRequired" : failure.reason
}

/** The outcome of one request carrying `proofs`, nonce filled in from the verifier unless given. */
const outcome = Effect.fnUntraced(function*(
  verifier: DpopVerifier.DpopVerifierShape,
  input: Partial<DpopVerifier.DpopCheck> & { readonly proofs: ReadonlyArray<string> }
) {
  return reasonOf(yield* Effect.exit(verifier.verify({ method: "GET", url, ...input })))
})

/** One proof with the verifier's current nonce. */
const withNonce = Effect.fnUntraced(function*(verifier: DpopVerifier.DpopVerifierShape, input: ProofInput) {
  return proof({ nonce: yield* verifier.nonce, ...input })
})

const check = Effect.fnUntraced(function*(
  verifier: DpopVerifier.DpopVerifierShape,
  input: ProofInput,
  request: Partial<DpopVerifier.DpopCheck> = {}
) {
  return yield* outcome(verifier, { proofs: [yield* withNonce(verifier, input)], ...request })
})

describe("DpopVerifier", () => {
  it.effect("accepts a proof made by jose with ES256, and its jkt is jose's RFC 7638 thumbprint", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const nonce = yield* verifier.nonce
      const { privateKey, publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256"))
      const jwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
      const text = yield* Effect.promise(() =>
        new Jose.SignJWT({ htm: "POST", htu: url, jti: "jose-1", iat: 0, nonce })
          .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk })
          .sign(privateKey)
      )
      const verified = yield* verifier.verify({ proofs: [text], method: "POST", url })
      assert.strictEqual(verified.jkt, yield* Effect.promise(() => Jose.calculateJwkThumbprint(jwk, "sha256")))
      assert.strictEqual(verified.jti, "jose-1")
      assert.strictEqual(verified.expiresAt, 60_000)
    }))

  it.effect("accepts proofs made by jose with Ed25519, under the alg Ed25519 and the older EdDSA", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const nonce = yield* verifier.nonce
      const { privateKey, publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("Ed25519"))
      const jwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
      for (const alg of ["Ed25519", "EdDSA"]) {
        const text = yield* Effect.promise(() =>
          new Jose.SignJWT({ htm: "GET", htu: url, jti: `jose-${alg}`, iat: 0, nonce, ath: athOf("token") })
            .setProtectedHeader({ alg, typ: "dpop+jwt", jwk })
            .sign(privateKey)
        )
        const verified = yield* verifier.verify({ proofs: [text], method: "GET", url, accessToken: "token" })
        assert.strictEqual(verified.jkt, yield* Effect.promise(() => Jose.calculateJwkThumbprint(jwk, "sha256")))
      }
    }))

  it.effect("no DPoP header is Missing; two DPoP headers are refused even when both are valid", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      assert.strictEqual(yield* outcome(verifier, { proofs: [] }), "Missing")
      const one = yield* withNonce(verifier, { key })
      const two = yield* withNonce(verifier, { key })
      assert.strictEqual(yield* outcome(verifier, { proofs: [one, two] }), "Multiple")
      assert.strictEqual(yield* outcome(verifier, { proofs: [one, one] }), "Multiple")
      assert.strictEqual(yield* outcome(verifier, { proofs: [one] }), "accepted")
    }))

  it.effect("a proof over 8 KB is refused before parsing; one just under is looked at", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      const nonce = yield* verifier.nonce
      const sized = (padding: number) => proof({ key, nonce, jti: "sized", claims: { pad: "a".repeat(padding) } })
      let padding = Math.floor((DpopVerifier.maxProofLength - sized(0).length) * 3 / 4) + 8
      while (sized(padding).length > DpopVerifier.maxProofLength) padding--
      const under = sized(padding)
      assert.isAbove(under.length, DpopVerifier.maxProofLength - 4)
      assert.strictEqual(yield* outcome(verifier, { proofs: [under] }), "accepted")
      const over = sized(padding + 3)
      assert.isAbove(over.length, DpopVerifier.maxProofLength)
      assert.strictEqual(yield* outcome(verifier, { proofs: [over] }), "TooLong")
      assert.strictEqual(yield* outcome(verifier, { proofs: ["x".repeat(1_000_000)] }), "TooLong")
    }))

  it.effect("htm must be the request method, exactly", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      assert.strictEqual(yield* check(verifier, { key, htm: "POST" }, { method: "GET" }), "WrongMethod")
      assert.strictEqual(yield* check(verifier, { key, htm: "get" }, { method: "GET" }), "WrongMethod")
      assert.strictEqual(yield* check(verifier, { key, htm: "POST" }, { method: "POST" }), "accepted")
    }))

  it.effect("htu: query and fragment ignored; case, default port, dot segments and percent-encoding normalised", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      const request = "https://gatehouse.example/api/a~b/hello?x=1"
      for (
        const htu of [
          "https://gatehouse.example/api/a~b/hello",
          "https://gatehouse.example/api/a~b/hello?other=2#frag",
          "HTTPS://GateHouse.EXAMPLE/api/a~b/hello",
          "https://gatehouse.example:443/api/a~b/hello",
          "https://gatehouse.example/api/./x/../a~b/hello",
          "https://gatehouse.example/api/a%7Eb/hello",
          "https://gatehouse.example/api/a%7eb/hell%6F"
        ]
      ) {
        assert.strictEqual(yield* check(verifier, { key, htu }, { url: request }), "accepted", htu)
      }
      for (
        const htu of [
          "https://gatehouse.example/api/a~b/hello/",
          "https://gatehouse.example/api/A~b/hello",
          "http://gatehouse.example/api/a~b/hello",
          "https://gatehouse.example:8443/api/a~b/hello",
          "https://other.example/api/a~b/hello",
          "https://user@gatehouse.example/api/a~b/hello",
          "/api/a~b/hello",
          "not a url"
        ]
      ) {
        assert.strictEqual(yield* check(verifier, { key, htu }, { url: request }), "WrongUrl", htu)
      }
      // An empty path is "/"; the request URL is normalised the same way.
      assert.strictEqual(
        yield* check(verifier, { key, htu: "https://gatehouse.example" }, { url: "https://GATEHOUSE.example:443/?q" }),
        "accepted"
      )
    }))

  it.effect("iat: 60 s back and 5 s ahead accepted, beyond either side Stale (TestClock)", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      yield* TestClock.setTime(1_000_000)
      assert.strictEqual(yield* check(verifier, { key, iat: 1_000 - 60 }), "accepted")
      assert.strictEqual(yield* check(verifier, { key, iat: 1_000 + 5 }), "accepted")
      assert.strictEqual(yield* check(verifier, { key, iat: 1_000 - 60.001 }), "Stale")
      assert.strictEqual(yield* check(verifier, { key, iat: 1_000 + 5.001 }), "Stale")
      assert.strictEqual(yield* check(verifier, { key, iat: 0 }), "Stale")
      // A proof that was fine goes stale as the clock moves on.
      const text = yield* withNonce(verifier, { key, iat: 1_000 })
      assert.strictEqual(yield* outcome(verifier, { proofs: [text] }), "accepted")
      yield* TestClock.adjust(Duration.millis(60_001))
      assert.strictEqual(yield* outcome(verifier, { proofs: [text] }), "Stale")
    }))

  it.effect("iat, jti, htm and htu must have their types; jti 1 to 256 characters", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      assert.strictEqual(yield* check(verifier, { key, iat: "0" }), "Malformed")
      assert.strictEqual(yield* check(verifier, { key, jti: "" }), "Malformed")
      assert.strictEqual(yield* check(verifier, { key, jti: 7 }), "Malformed")
      assert.strictEqual(yield* check(verifier, { key, jti: "j".repeat(257) }), "Malformed")
      assert.strictEqual(yield* check(verifier, { key, jti: "j".repeat(256) }), "accepted")
      assert.strictEqual(yield* check(verifier, { key, claims: { htm: undefined } }), "Malformed")
      assert.strictEqual(yield* check(verifier, { key, claims: { htu: 1 } }), "Malformed")
      assert.strictEqual(yield* check(verifier, { key, claims: { ath: 1 } }, { accessToken: "t" }), "Malformed")
    }))

  it.effect("typ must be exactly dpop+jwt", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      for (const typ of ["DPoP+jwt", "jwt", "application/dpop+jwt", undefined]) {
        assert.strictEqual(yield* check(verifier, { key, header: { typ } }), "WrongType", String(typ))
      }
    }))

  it.effect("a used jti is refused for its key; the same jti under another key is a different proof", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      const text = yield* withNonce(verifier, { key, jti: "once" })
      const verified = yield* verifier.verify({ proofs: [text], method: "GET", url })
      yield* verifier.consume(verified)
      const again = yield* Effect.flip(verifier.consume(yield* verifier.verify({ proofs: [text], method: "GET", url })))
      assert.deepInclude(again, { _tag: "InvalidDpopProof", reason: "Replayed" })
      const other = yield* withNonce(verifier, { key: makeKey(), jti: "once" })
      yield* verifier.consume(yield* verifier.verify({ proofs: [other], method: "GET", url }))
    }))

  it.effect("a jti reused after receipt + window but before iat + window is still refused", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      // Made 5 s ahead (the most allowed): acceptable until iat + 60 s = 65 s, not 60 s.
      const text = yield* withNonce(verifier, { key, iat: 5 })
      const verified = yield* verifier.verify({ proofs: [text], method: "GET", url })
      assert.strictEqual(verified.expiresAt, 65_000)
      yield* verifier.consume(verified)
      yield* TestClock.setTime(60_500)
      const replay = yield* verifier.verify({ proofs: [text], method: "GET", url })
      assert.deepInclude(yield* Effect.flip(verifier.consume(replay)), { _tag: "InvalidDpopProof", reason: "Replayed" })
      yield* TestClock.setTime(65_001)
      assert.strictEqual(yield* outcome(verifier, { proofs: [text] }), "Stale")
    }))

  it.effect("a private key in jwk is refused (EC d, OKP d, and any RSA/oct private member)", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      for (const alg of ["ES256", "Ed25519"] as const) {
        const key = makeKey(alg)
        assert.strictEqual(yield* check(verifier, { key, header: { jwk: key.privateJwk } }), "BadKey", alg)
        for (const member of ["p", "q", "dp", "dq", "qi", "oth", "k"]) {
          assert.strictEqual(yield* check(verifier, { key, header: { jwk: { ...key.jwk, [member]: "AA" } } }), "BadKey")
        }
      }
    }))

  it.effect("jku, x5u, x5c and crit in the header are refused", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      assert.strictEqual(yield* check(verifier, { key, header: { jku: "https://evil.example/jwks" } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key, header: { x5u: "https://evil.example/cert" } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key, header: { x5c: ["MIIB"] } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key, header: { crit: ["exp"], exp: 1 } }), "BadKey")
      // kid is neither needed nor harmful.
      assert.strictEqual(yield* check(verifier, { key, header: { kid: "k1" } }), "accepted")
    }))

  it.effect("alg none, HS256, RS256 and ES384 are refused", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      for (const alg of ["none", "HS256", "RS256", "ES384", "es256", undefined]) {
        assert.strictEqual(yield* check(verifier, { key, header: { alg } }), "WrongAlgorithm", String(alg))
      }
      // An unsigned proof (empty signature segment) is not even well-formed.
      const nonce = yield* verifier.nonce
      const [h, p] = proof({ key, nonce, header: { alg: "none" } }).split(".")
      assert.strictEqual(yield* outcome(verifier, { proofs: [`${h}.${p}.`] }), "Malformed")
    }))

  it.effect("the key type and curve are pinned to the alg: EdDSA with a P-256 key, ES256 with Ed25519", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const ec = makeKey("ES256")
      const ed = makeKey("Ed25519")
      assert.strictEqual(yield* check(verifier, { key: ec, header: { alg: "EdDSA" } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key: ec, header: { alg: "Ed25519" } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key: ed, header: { alg: "ES256" } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key: ec, header: { jwk: { ...ec.jwk, crv: "P-384" } } }), "BadKey")
      assert.strictEqual(yield* check(verifier, { key: ec, header: { jwk: { ...ec.jwk, alg: "ES384" } } }), "BadKey")
      // A point that is not on the curve cannot be imported.
      const offCurve = { ...ec.jwk, y: Buffer.alloc(32, 1).toString("base64url") }
      assert.strictEqual(yield* check(verifier, { key: ec, header: { jwk: offCurve } }), "BadKey")
    }))

  it.effect("ath: a wrong one, a missing one with a token, and one without a token are WrongAth", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const key = makeKey()
      const token = "the-access-token"
      assert.strictEqual(yield* check(verifier, { key, ath: athOf(token) }, { accessToken: token }), "accepted")
      assert.strictEqual(yield* check(verifier, { key, ath: athOf("another") }, { accessToken: token }), "WrongAth")
      assert.strictEqual(yield* check(verifier, { key }, { accessToken: token }), "WrongAth")
      assert.strictEqual(yield* check(verifier, { key, ath: athOf(token) }), "WrongAth")
      assert.strictEqual(yield* check(verifier, { key }), "accepted")
    }))

  it.effect("a proof signed by another key than its jwk is BadSignature", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      for (const alg of ["ES256", "Ed25519"] as const) {
        assert.strictEqual(yield* check(verifier, { key: makeKey(alg), signer: makeKey(alg) }), "BadSignature")
      }
    }))

  it.effect("non-canonical base64url in any segment is Malformed", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const text = yield* withNonce(verifier, { key: makeKey() })
      const [h, p, s] = text.split(".") as [string, string, string]
      // The last character of a 64-byte signature carries 2 unused bits: setting one is another spelling.
      const last = s.at(-1)!
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      const sibling = alphabet[alphabet.indexOf(last) ^ 1]!
      assert.deepStrictEqual(Buffer.from(`${s.slice(0, -1)}${sibling}`, "base64url"), Buffer.from(s, "base64url"))
      for (
        const variant of [
          `${h}.${p}.${s.slice(0, -1)}${sibling}`,
          `${h}=.${p}.${s}`,
          `${h}.${p}.${s}=`,
          `${h}.${p}+.${s}`
        ]
      ) {
        assert.strictEqual(yield* outcome(verifier, { proofs: [variant] }), "Malformed", variant)
      }
    }))

  it.effect("a proof without a nonce is DpopNonceRequired; retried with the served nonce it is accepted", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      assert.isTrue(verifier.noncesRequired)
      const key = makeKey()
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key })] }), "NonceRequired")
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key, nonce: "made-up" })] }), "NonceRequired")
      const nonce = yield* verifier.nonce
      const [step, kid, mac] = nonce.split(".") as [string, string, string]
      const forged = `${step}.${kid}.${mac.slice(0, -2)}${mac.at(-2) === "A" ? "B" : "A"}${mac.at(-1)}`
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key, nonce: forged })] }), "NonceRequired")
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key, nonce })] }), "accepted")
    }))

  it.effect("a nonce of the previous step is accepted; one from two steps back is refused", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance({ nonceStep: "5 minutes" })
      const key = makeKey()
      yield* TestClock.setTime(10 * 300_000 + 299_000)
      const nonce = yield* verifier.nonce
      assert.strictEqual(nonce.split(".")[0], "10")
      yield* TestClock.setTime(11 * 300_000 + 299_000)
      assert.notStrictEqual(yield* verifier.nonce, nonce)
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key, nonce, iat: 11 * 300 + 299 })] }), "accepted")
      yield* TestClock.setTime(12 * 300_000)
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key, nonce, iat: 12 * 300 })] }), "NonceRequired")
    }))

  it.effect("a nonce minted by instance A is accepted by instance B sharing the keyring, also after A rotates", () =>
    Effect.gen(function*() {
      const secrets = yield* secretStore
      const a = yield* instanceOver(secrets)
      const b = yield* instanceOver(secrets)
      const key = makeKey()
      const fromA = yield* a.verifier.nonce
      assert.strictEqual(yield* outcome(b.verifier, { proofs: [proof({ key, nonce: fromA })] }), "accepted")
      // A rotates: its next nonce names a key B has not loaded yet, and B reloads to find it.
      yield* a.keyring.rotate
      const rotated = yield* a.verifier.nonce
      assert.notStrictEqual(rotated.split(".")[1], fromA.split(".")[1])
      assert.strictEqual(yield* outcome(b.verifier, { proofs: [proof({ key, nonce: rotated })] }), "accepted")
      assert.strictEqual(yield* outcome(a.verifier, { proofs: [proof({ key, nonce: fromA })] }), "accepted")
      // An instance on another keyring does not accept it.
      const c = yield* instance()
      assert.strictEqual(yield* outcome(c.verifier, { proofs: [proof({ key, nonce: fromA })] }), "NonceRequired")
    }))

  it.effect("nonces off: no nonce needed, and the rest is still checked", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance({ nonces: false })
      assert.isFalse(verifier.noncesRequired)
      const key = makeKey()
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key })] }), "accepted")
      assert.strictEqual(yield* outcome(verifier, { proofs: [proof({ key, htm: "POST" })] }), "WrongMethod")
      assert.deepStrictEqual(verifier.algorithms, ["ES256", "Ed25519", "EdDSA"])
    }))

  it.effect("fuzz: a byte changed in the header, payload or signature (re-encoded canonically) is never accepted, never a defect, and jose refuses it too", () =>
    Effect.gen(function*() {
      const { verifier } = yield* instance()
      const clock = yield* Clock.Clock
      const nonce = yield* verifier.nonce
      const keys = [makeKey("ES256"), makeKey("Ed25519")]
      const valid = keys.map((key) => proof({ key, nonce, htm: "POST", ath: athOf("tok") }))
      const run = (text: string) =>
        reasonOf(Effect.runSyncExit(
          verifier.verify({ proofs: [text], method: "POST", url, accessToken: "tok" }).pipe(
            Effect.provideService(Clock.Clock, clock)
          )
        ))
      for (const text of valid) {
        assert.strictEqual(run(text), "accepted")
        // jose accepts the unmutated proofs: the verdicts agree on both sides.
        yield* Effect.promise(() =>
          Jose.jwtVerify(text, Jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: ["ES256", "Ed25519", "EdDSA"] })
        )
      }
      const mutation = fc.record({
        which: fc.integer({ min: 0, max: 1 }),
        segment: fc.integer({ min: 0, max: 2 }),
        index: fc.nat(),
        xor: fc.integer({ min: 1, max: 255 })
      })
      const mutate = ({ index, segment, which, xor }: typeof mutation extends fc.Arbitrary<infer T> ? T : never) => {
        const parts = valid[which]!.split(".")
        const bytes = Buffer.from(parts[segment]!, "base64url")
        bytes[index % bytes.length]! ^= xor
        parts[segment] = bytes.toString("base64url")
        return parts.join(".")
      }
      const rejected: Array<string> = []
      fc.assert(
        fc.property(mutation, (m) => {
          const text = mutate(m)
          const result = run(text)
          if (result === "accepted" || result === "defect") return false
          if (rejected.length < 200) rejected.push(text)
          return true
        }),
        { numRuns: 2_000 }
      )
      // The reference implementation agrees (signature rules; the DPoP claims are ours alone).
      for (const text of rejected) {
        const joseAccepted = yield* Effect.promise(() =>
          Jose.jwtVerify(text, Jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: ["ES256", "Ed25519", "EdDSA"] })
            .then(() => true, () => false)
        )
        assert.isFalse(joseAccepted, text)
      }
      // Arbitrary text, dots and all, is never a defect.
      fc.assert(
        fc.property(
          fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom("e", "y", "J", ".", "=", "_", "A") })),
          (s) => {
            const result = run(s)
            return result !== "accepted" && result !== "defect"
          }
        ),
        { numRuns: 2_000 }
      )
    }))
})
