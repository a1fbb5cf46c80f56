/**
 * DPoP proofs (RFC 9449): the check of section 4.3, server nonces (section 8 and 9) and the
 * single use of each proof. The HTTP layer calls `verify` for a request, then verifies the token
 * and its binding to `jkt`, and only then `consume`, so a flood of unauthenticated proofs never
 * reaches the replay store.
 *
 * `verify` refuses, in this order: no `DPoP` header or more than one; a proof over
 * `maxProofLength` characters (before any parsing); anything but three canonical base64url
 * segments (one spelling per proof) with JSON objects; `typ` other than exactly `dpop+jwt`; an
 * algorithm other than `ES256`, `Ed25519` or `EdDSA`; `jku`, `x5u`, `x5c` or `crit` in the header;
 * a `jwk` that is not exactly a public key of the type the algorithm pins (P-256 for `ES256`,
 * Ed25519 for `Ed25519` and `EdDSA`), or that carries any private member; claims of the wrong
 * shape (`jti` a string of 1 to 256 characters, `htm` and `htu` strings, numeric `iat`); a
 * signature that the `jwk` does not verify; `htm` other than the method; `htu` other than the
 * request URL (both normalised: `DpopProof.normaliseUrl`, query and fragment dropped); `iat`
 * outside [now - back, now + ahead] by `Clock`; `ath` other than base64url(SHA-256(token)) when a
 * token is presented, or an `ath` when none is (the proof was made for another request). Last,
 * when nonces are on, a `nonce` that is not a current one is `DpopNonceRequired`, so a client
 * learns the nonce only with an otherwise valid proof.
 *
 * Nonces are stateless: `<step>.<kid>.<HMAC>` where `step` is the time divided by `nonceStep`
 * and the HMAC is the `SigningKeyring`'s (key `kid`) over a label, the key id and the step. Every
 * instance sharing the keyring accepts every other's nonces, a rotation keeps old nonces valid
 * while their key verifies, and the current and the previous step are accepted (a nonce lives
 * between one and two steps).
 *
 * Signatures are checked with `node:crypto` synchronously (ES256 in IEEE P1363 form, Ed25519),
 * as `AccessTokens` does; `jose` (`jwtVerify` with `EmbeddedJWK`) is the reference the tests hold
 * this to. Imported keys are remembered by thumbprint (at most `maxCachedKeys`).
 */
import { Clock, Context, Duration, Effect, Layer, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as DpopProof from "./DpopProof.ts"
import * as DpopReplayStore from "./DpopReplayStore.ts"
import * as Durations from "./Durations.ts"
import type { StoreError } from "./Errors.ts"
import { constantTimeEqualString, sha256Base64Url } from "./Hashing.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

/** The algorithms accepted; `EdDSA` only with an Ed25519 key (older clients, before RFC 9864). */
export const algorithms = ["ES256", "Ed25519", "EdDSA"] as const
export type Algorithm = typeof algorithms[number]

/** The longest proof looked at; longer is refused before parsing. */
export const maxProofLength = 8192

export const proofType = "dpop+jwt"

/** Imported public keys remembered (by thumbprint); the table is cleared whole when full. */
export const maxCachedKeys = 10_000

/** What the HTTP layer hands the verifier for one request. */
export interface DpopCheck {
  /** Every `DPoP` header value as received (0, 1 or more; more than one is refused). */
  readonly proofs: ReadonlyArray<string>
  /** The request method, e.g. `POST`. */
  readonly method: string
  /**
   * The absolute public URL of the request (public origin behind a trusted proxy + path + query).
   * The verifier drops query and fragment and normalises both it and `htu` (RFC 3986 6.2.2/6.2.3).
   */
  readonly url: string
  /**
   * The access token / session token presented with the proof: `ath` must equal
   * base64url(SHA-256(token)). Undefined at a token endpoint without a token: then no `ath` is
   * required (and one is refused).
   */
  readonly accessToken?: string | undefined
}

export interface VerifiedProof {
  /** RFC 7638 SHA-256 JWK thumbprint, base64url (what `cnf.jkt` holds). */
  readonly jkt: string
  readonly jti: string
  /** Milliseconds: `iat` + the back window; the replay entry lives until then. */
  readonly expiresAt: number
}

export class InvalidDpopProof extends Schema.TaggedError<InvalidDpopProof>()("InvalidDpopProof", {
  /** Why, for logs and tests only; never shown to the client. */
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

/** The proof has no current server nonce: answer `use_dpop_nonce` with a fresh `DPoP-Nonce`. */
export class DpopNonceRequired extends Schema.TaggedError<DpopNonceRequired>()("DpopNonceRequired", {}) {
  override get message(): string {
    return "The DPoP proof must carry the server's current nonce"
  }
}

export interface DpopVerifierShape {
  /** Checks the proof (everything but the replay store). Synchronous work inside; no store access. */
  readonly verify: (check: DpopCheck) => Effect.Effect<VerifiedProof, InvalidDpopProof | DpopNonceRequired>
  /**
   * Records the proof's `jti` for its key, exactly once across instances. Called by the HTTP layer
   * only after the token and its binding verified. A second use fails `InvalidDpopProof("Replayed")`.
   */
  readonly consume: (proof: VerifiedProof) => Effect.Effect<void, InvalidDpopProof | StoreError>
  /** The current nonce, for the `DPoP-Nonce` header of challenges and successful bound responses. */
  readonly nonce: Effect.Effect<string>
  /** Whether nonces are required (option `nonces`, default true). */
  readonly noncesRequired: boolean
  /** The algorithms advertised (`algs` in WWW-Authenticate, `dpop_signing_alg_values_supported`). */
  readonly algorithms: ReadonlyArray<string>
}

export class DpopVerifier extends Context.Service<DpopVerifier, DpopVerifierShape>()(
  "@gatehouse-auth/core/DpopVerifier"
) {}

export interface Options {
  /** How old a proof's `iat` may be (default 60 seconds); also how long its `jti` is remembered after `iat`. */
  readonly back?: Duration.Input | undefined
  /** How far in the future `iat` may be (default 5 seconds): clocks of two machines differ. */
  readonly ahead?: Duration.Input | undefined
  /** Whether proofs must carry a server nonce (default true). */
  readonly nonces?: boolean | undefined
  /** The nonce time step (default 5 minutes): a nonce is accepted during its step and the next. */
  readonly nonceStep?: Duration.Input | undefined
}

const nonceLabel = "gatehouse/dpop-nonce/v1"
const nonceData = (kid: string, step: string) => `${nonceLabel}:${kid}:${step}`
const nonceShape = /^([0-9]{1,16})\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$/

/** Header members that point at keys elsewhere or ask for extensions: never followed here. */
const refusedHeaderMembers = ["jku", "x5u", "x5c", "crit"] as const

const isAlgorithm = (alg: unknown): alg is Algorithm => algorithms.includes(alg as Algorithm)

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const keyring = yield* SigningKeyring.SigningKeyring
  const store = yield* DpopReplayStore.DpopReplayStore
  const back = yield* Durations.toMillis("dpop back", options.back, Duration.seconds(60))
  const ahead = yield* Durations.toMillis("dpop ahead", options.ahead, Duration.seconds(5))
  const step = yield* Durations.toMillis("dpop nonceStep", options.nonceStep, Duration.minutes(5))
  const noncesRequired = options.nonces ?? true

  const keys = new Map<string, Crypto.KeyObject>()
  const importKey = (jkt: string, jwk: DpopProof.PublicKeyJwk): Crypto.KeyObject | undefined => {
    const hit = keys.get(jkt)
    if (hit !== undefined) return hit
    let key: Crypto.KeyObject
    try {
      // Only the members checked, so nothing else in the header reaches the importer.
      key = Crypto.createPublicKey({ key: { ...jwk }, format: "jwk" })
    } catch {
      return undefined
    }
    if (keys.size >= maxCachedKeys) keys.clear()
    keys.set(jkt, key)
    return key
  }

  const signatureValid = (alg: Algorithm, key: Crypto.KeyObject, input: string, signature: Buffer): boolean => {
    if (signature.byteLength !== 64) return false
    try {
      const data = Buffer.from(input, "latin1")
      return alg === "ES256"
        ? Crypto.verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature)
        : Crypto.verify(null, data, key, signature)
    } catch {
      return false
    }
  }

  const invalid = (reason: InvalidDpopProof["reason"]) => new InvalidDpopProof({ reason })

  interface Checked {
    readonly proof: VerifiedProof
    readonly nonce: unknown
  }

  /** Every check but the nonce, synchronously. */
  const check = (input: DpopCheck, now: number): Checked | InvalidDpopProof => {
    if (input.proofs.length === 0) return invalid("Missing")
    if (input.proofs.length > 1) return invalid("Multiple")
    const text = input.proofs[0]!
    if (text.length > maxProofLength) return invalid("TooLong")
    const jws = DpopProof.parseCompact(text)
    if (jws === undefined) return invalid("Malformed")
    const header = jws.header as Record<string, unknown>
    if (header.typ !== proofType) return invalid("WrongType")
    const alg = header.alg
    if (!isAlgorithm(alg)) return invalid("WrongAlgorithm")
    for (const member of refusedHeaderMembers) if (member in header) return invalid("BadKey")
    const jwk = DpopProof.publicKeyFor(alg, header.jwk)
    if (typeof jwk === "string") return invalid("BadKey")

    const claims = jws.payload as Record<string, unknown>
    const { ath, htm, htu, iat, jti } = claims
    if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) return invalid("Malformed")
    if (typeof htm !== "string" || typeof htu !== "string") return invalid("Malformed")
    if (typeof iat !== "number" || !Number.isFinite(iat)) return invalid("Malformed")
    if (ath !== undefined && typeof ath !== "string") return invalid("Malformed")

    const jkt = DpopProof.thumbprint(jwk)
    const key = importKey(jkt, jwk)
    if (key === undefined) return invalid("BadKey")
    if (!signatureValid(alg, key, jws.signingInput, jws.signature)) return invalid("BadSignature")

    if (htm !== input.method) return invalid("WrongMethod")
    const expectedUrl = DpopProof.normaliseUrl(input.url)
    if (expectedUrl === undefined || DpopProof.normaliseUrl(htu) !== expectedUrl) return invalid("WrongUrl")
    const issuedAt = iat * 1000
    if (issuedAt < now - back || issuedAt > now + ahead) return invalid("Stale")
    if (input.accessToken === undefined) {
      if (ath !== undefined) return invalid("WrongAth")
    } else if (ath === undefined || !constantTimeEqualString(ath, sha256Base64Url(input.accessToken))) {
      return invalid("WrongAth")
    }
    return { proof: { jkt, jti, expiresAt: Math.ceil(issuedAt) + back }, nonce: claims.nonce }
  }

  /** The step a nonce names, when it is the current or the previous one; else `undefined`. */
  const nonceParts = (nonce: unknown, now: number) => {
    if (typeof nonce !== "string") return undefined
    const match = nonceShape.exec(nonce)
    if (match === null) return undefined
    const current = Math.floor(now / step)
    const named = Number(match[1])
    if (named !== current && named !== current - 1) return undefined
    return { data: nonceData(match[2]!, match[1]!), kid: match[2]!, signature: match[3]! }
  }

  const verify = (input: DpopCheck): Effect.Effect<VerifiedProof, InvalidDpopProof | DpopNonceRequired> =>
    Clock.clockWith((clock): Effect.Effect<VerifiedProof, InvalidDpopProof | DpopNonceRequired> => {
      const now = clock.currentTimeMillisUnsafe()
      const checked = check(input, now)
      if (checked instanceof InvalidDpopProof) return Effect.fail(checked)
      if (!noncesRequired) return Effect.succeed(checked.proof)
      const parts = nonceParts(checked.nonce, now)
      if (parts === undefined) return Effect.fail(new DpopNonceRequired())
      const known = keyring.verifyUnsafe(parts.kid, parts.data, parts.signature, now)
      // A key id not loaded here (another instance rotated): `verify` may reload the keyring.
      const valid = known === undefined ? keyring.verify(parts.kid, parts.data, parts.signature) : Effect.succeed(known)
      return Effect.flatMap(
        valid,
        (ok) => ok ? Effect.succeed(checked.proof) : Effect.fail(new DpopNonceRequired())
      )
    })

  const consume = (proof: VerifiedProof): Effect.Effect<void, InvalidDpopProof | StoreError> =>
    Clock.clockWith((clock) =>
      Effect.flatMap(
        store.record(proof.jkt, proof.jti, proof.expiresAt, clock.currentTimeMillisUnsafe()),
        (first) => first ? Effect.void : Effect.fail(invalid("Replayed"))
      )
    )

  const nonce: Effect.Effect<string> = Clock.clockWith((clock) =>
    Effect.sync(() => {
      const current = String(Math.floor(clock.currentTimeMillisUnsafe() / step))
      let kid = ""
      const { signature } = keyring.signUnsafe((id) => {
        kid = id
        return nonceData(id, current)
      })
      return `${current}.${kid}.${signature}`
    })
  )

  return DpopVerifier.of({ verify, consume, nonce, noncesRequired, algorithms })
})

/** The verifier over the `SigningKeyring` (nonces) and the `DpopReplayStore` provided. */
export const layer = (
  options: Options = {}
): Layer.Layer<
  DpopVerifier,
  Durations.InvalidDuration,
  SigningKeyring.SigningKeyring | DpopReplayStore.DpopReplayStore
> => Layer.effect(DpopVerifier, make(options))
