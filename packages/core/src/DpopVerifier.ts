/**
 * STAND-IN of the DpopVerifier contract (owned by the dpop-core work, which replaces this file on
 * merge). Enough of RFC 9449 section 4.3 for the HTTP layer's tests: one proof, `typ`, algorithm,
 * embedded public JWK, `htm`, `htu` (query and fragment dropped), `iat` window, `ath`, nonce.
 */
import { Clock, Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import * as Jose from "jose"
import { DpopReplayStore } from "./DpopReplayStore.ts"
import type { StoreError } from "./Errors.ts"
import { constantTimeEqualString, hmacSha256Base64Url, sha256Base64Url } from "./Hashing.ts"
import type { SigningKey } from "./KeyringStore.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

export const algorithms = ["ES256", "Ed25519", "EdDSA"] as const
export const maxProofLength = 8192

export interface DpopCheck {
  readonly proofs: ReadonlyArray<string>
  readonly method: string
  readonly url: string
  readonly accessToken?: string | undefined
}

export interface VerifiedProof {
  readonly jkt: string
  readonly jti: string
  readonly expiresAt: number
}

export class InvalidDpopProof extends Schema.TaggedError<InvalidDpopProof>()("InvalidDpopProof", {
  reason: Schema.Literals([
    "Missing",
    "Multiple",
    "TooLong",
    "Malformed",
    "WrongType",
    "WrongAlgorithm",
    "BadKey",
    "BadSignature",
    "WrongMethod",
    "WrongUrl",
    "Stale",
    "WrongAth",
    "Replayed"
  ])
}) {
  override get message(): string {
    return "The DPoP proof is not valid"
  }
}

export class DpopNonceRequired extends Schema.TaggedError<DpopNonceRequired>()("DpopNonceRequired", {}) {
  override get message(): string {
    return "The DPoP proof must carry the server's current nonce"
  }
}

export interface DpopVerifierShape {
  readonly verify: (check: DpopCheck) => Effect.Effect<VerifiedProof, InvalidDpopProof | DpopNonceRequired>
  readonly consume: (proof: VerifiedProof) => Effect.Effect<void, InvalidDpopProof | StoreError>
  readonly nonce: Effect.Effect<string>
  readonly noncesRequired: boolean
  readonly algorithms: ReadonlyArray<string>
}

export class DpopVerifier extends Context.Service<DpopVerifier, DpopVerifierShape>()(
  "@gatehouse-auth/core/DpopVerifier"
) {}

export interface Options {
  readonly back?: Duration.Input | undefined
  readonly ahead?: Duration.Input | undefined
  readonly nonces?: boolean | undefined
  readonly nonceStep?: Duration.Input | undefined
}

const stripUrl = (url: string) => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return undefined
  }
}

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const keyring = yield* SigningKeyring.SigningKeyring
  const store = yield* DpopReplayStore
  const back = Duration.toMillis(Duration.fromInputUnsafe(options.back ?? "60 seconds"))
  const ahead = Duration.toMillis(Duration.fromInputUnsafe(options.ahead ?? "5 seconds"))
  const step = Duration.toMillis(Duration.fromInputUnsafe(options.nonceStep ?? "5 minutes"))
  const noncesRequired = options.nonces ?? true

  const nonceAt = (key: SigningKey, index: number) =>
    hmacSha256Base64Url(Redacted.value(key.key), `gatehouse/dpop-nonce/v1/${index}`)

  const nonce = Effect.flatMap(
    keyring.current,
    (key) =>
      Clock.clockWith((clock) => Effect.succeed(nonceAt(key, Math.floor(clock.currentTimeMillisUnsafe() / step))))
  )

  const invalid = (reason: InvalidDpopProof["reason"]) => Effect.fail(new InvalidDpopProof({ reason }))

  const verify = (check: DpopCheck): Effect.Effect<VerifiedProof, InvalidDpopProof | DpopNonceRequired> =>
    Effect.gen(function*() {
      if (check.proofs.length === 0) return yield* invalid("Missing")
      if (check.proofs.length > 1) return yield* invalid("Multiple")
      const proof = check.proofs[0]!
      if (proof.length > maxProofLength) return yield* invalid("TooLong")
      const result = yield* Effect.tryPromise({
        try: () => Jose.jwtVerify(proof, Jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: [...algorithms] }),
        catch: () => new InvalidDpopProof({ reason: "BadSignature" })
      })
      const payload = result.payload as Record<string, unknown>
      const jwk = result.protectedHeader.jwk
      if (jwk === undefined || "d" in jwk) return yield* invalid("BadKey")
      if (payload.htm !== check.method) return yield* invalid("WrongMethod")
      const htu = typeof payload.htu === "string" ? stripUrl(payload.htu) : undefined
      if (htu === undefined || htu !== stripUrl(check.url)) return yield* invalid("WrongUrl")
      const now = yield* Clock.currentTimeMillis
      const iat = payload.iat
      if (typeof iat !== "number" || iat * 1000 < now - back || iat * 1000 > now + ahead) return yield* invalid("Stale")
      const jti = payload.jti
      if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) return yield* invalid("Malformed")
      if (check.accessToken !== undefined) {
        if (
          typeof payload.ath !== "string" || !constantTimeEqualString(payload.ath, sha256Base64Url(check.accessToken))
        ) {
          return yield* invalid("WrongAth")
        }
      }
      if (noncesRequired) {
        const key = yield* keyring.current
        const index = Math.floor(now / step)
        const given = payload.nonce
        if (
          typeof given !== "string" ||
          !(constantTimeEqualString(given, nonceAt(key, index)) ||
            constantTimeEqualString(given, nonceAt(key, index - 1)))
        ) return yield* new DpopNonceRequired()
      }
      const jkt = yield* Effect.promise(() => Jose.calculateJwkThumbprint(jwk, "sha256"))
      return { jkt, jti, expiresAt: iat * 1000 + back }
    })

  const consume = (proof: VerifiedProof) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) =>
        Effect.flatMap(
          store.record(proof.jkt, proof.jti, proof.expiresAt, now),
          (first) => first ? Effect.void : invalid("Replayed")
        )
    )

  return DpopVerifier.of({ verify, consume, nonce, noncesRequired, algorithms })
})

export const layer = (options: Options = {}) => Layer.effect(DpopVerifier, make(options))
