/**
 * Access tokens: short-lived JWTs (RFC 9068 `at+jwt`) minted from a session, carrying a narrowed set
 * of its scopes, for a CLI tool, an agent or a second service that should not hold the session.
 *
 * - Minted by `mint({ session, scopes, expiresIn, oneTimeUse, audience })`: the scopes must be
 *   covered by the session's (narrowing only; `admin` only from a session holding it), 15 minutes by
 *   default and 24 hours at most. Claims `iss`, `aud`, `sub`, `iat`, `exp`, `jti`, `scope`, `sid`
 *   (and `once` for a one-time token, `cnf.jkt` for one bound to a DPoP key); header `typ: "at+jwt"`
 *   and `kid`. A session bound to a DPoP key mints only tokens bound to the same key.
 * - Signed with Ed25519 (`EdDSA`) by default, or HS256. The keys are derived from the keys of the
 *   `SigningKeyring` (HMAC-SHA256 of the keyring key over a fixed label, one label per algorithm), so
 *   they live where the keyring lives, encrypted at rest like it, share its key ids, and rotate
 *   with it (`gatehouse keys rotate`): a retired key keeps verifying for the keyring's retention.
 *   `jwks` is the public half, for a verifier in another process (which cannot see revocation).
 * - `verify(token)`: canonical base64url segments, the algorithm allow-list (the configured one
 *   only), `typ`, no `crit`, a known `kid`, the signature, the claims' Schema, `iss`, `aud`, `exp`
 *   (with a small clock skew); then, on this server, the minting session must still be live (a revoked session
 *   kills its tokens at once) and a one-time token's `jti` is recorded through
 *   `SessionStore.consumeTicket`, exactly once across every process on the store. A verified token
 *   is remembered by the SHA-256 of its text until it expires, so a repeat costs no signature check
 *   (never the session read nor the one-time record).
 *
 * Tokens are minted with `jose` (`SignJWT`). They are verified with `node:crypto` directly, by the
 * rules above: `jose.jwtVerify` is asynchronous (WebCrypto) and accepts non-canonical base64url,
 * while this check runs synchronously inside the request and admits one spelling per token.
 * `jose` stays the reference: the tests verify minted tokens with it as an outside verifier would.
 *
 * The effective scopes of a token are its own scopes that the session still covers: a scope removed
 * from the session is gone from its tokens at once.
 *
 * A second source of tokens: the OAuth authorization server (`OAuthAuthorizationServer`) mints from
 * the session that is an OAuth grant (method `oauth`, which no browser holds), on every code
 * exchange and refresh, with `aud` = the MCP resource and a `client_id` claim (RFC 9068). Such a
 * token verifies only through `verify(token, { audience })` with exactly that resource; the
 * default `verify` refuses any token that carries a `client_id`.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as Base64Url from "./Base64Url.ts"
import * as Durations from "./Durations.ts"
import { InvalidRequest, type StoreError } from "./Errors.ts"
import { constantTimeEqual, hmacSha256, randomId, sha256Base64Url } from "./Hashing.ts"
import { SessionId, Subject } from "./Ids.ts"
import * as Scopes from "./Scopes.ts"
import * as SessionCredentialService from "./SessionCredentialService.ts"
import * as SessionStore from "./SessionStore.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

export const tokenType = "at+jwt"

export type Algorithm = "EdDSA" | "HS256"

/** Longest token accepted; longer input is refused before any work. */
export const maxLength = 4096

export class InvalidAccessToken extends Schema.TaggedError<InvalidAccessToken>()("InvalidAccessToken", {
  /** Why, for logs and tests only; never shown to the client. */
  reason: Schema.Literals([
    "Malformed",
    "WrongAlgorithm",
    "WrongType",
    "UnknownKey",
    "BadSignature",
    "WrongIssuer",
    "WrongAudience",
    "Revoked",
    "Replayed"
  ])
}) {
  override get message(): string {
    return "The access token is not valid"
  }
}

export class ExpiredAccessToken extends Schema.TaggedError<ExpiredAccessToken>()("ExpiredAccessToken", {}) {
  override get message(): string {
    return "The access token has expired"
  }
}

/** A mint asked for scopes the minting session does not hold. */
export class ScopesNotHeld extends Schema.TaggedError<ScopesNotHeld>()("ScopesNotHeld", {
  scopes: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `The session does not hold the scope ${this.scopes.join(" ")}, so no token can carry it`
  }
}

export type VerifyError = InvalidAccessToken | ExpiredAccessToken | StoreError

export interface MintInput {
  /** The minting session (live: from `SessionCredentialService.verify`). Its subject is the token's `sub`. */
  readonly session: SessionCredentialService.SessionInfo
  readonly scopes: ReadonlyArray<string>
  /** Default 15 minutes; at most `maxExpiresIn` (24 hours). */
  readonly expiresIn?: Duration.Input | undefined
  /** Accepted once, on this server, however many processes share its store. */
  readonly oneTimeUse?: boolean | undefined
  /** `aud`; default the issuer (this server). A token for another audience is not accepted here. */
  readonly audience?: string | undefined
  /** The OAuth client the token was issued to (`client_id`, RFC 9068); only OAuth tokens carry one. */
  readonly clientId?: string | undefined
  /**
   * Binds the token to this DPoP key (RFC 9449 `cnf.jkt`): it is then accepted only as
   * `Authorization: DPoP` with a proof by that key. A bound session mints only bound tokens.
   */
  readonly jkt?: string | undefined
}

export interface Minted {
  readonly token: Redacted.Redacted<string>
  readonly jti: string
  /** Milliseconds since the epoch (`exp` is in seconds, so this is a whole second). */
  readonly expiresAt: number
  readonly scopes: ReadonlyArray<string>
}

export interface Verified {
  /** The minting session, with the token's scopes that the session still covers. */
  readonly session: SessionCredentialService.SessionInfo
  readonly jti: string
  readonly expiresAt: number
  readonly audience: string
  readonly oneTimeUse: boolean
  /** The OAuth client of a token issued by the authorization server (`client_id`). */
  readonly clientId?: string | undefined
  /** `cnf.jkt`: the DPoP key the token is bound to, if any. */
  readonly jkt?: string | undefined
}

export interface VerifyOptions {
  /**
   * The one audience accepted (exactly), instead of the configured ones: what the MCP endpoint
   * asks for OAuth tokens, whose `aud` is the MCP resource.
   */
  readonly audience?: string | undefined
}

/** A public key as a JWK (`kty: "OKP"`, `crv: "Ed25519"`), with `kid`, `alg` and `use`. */
export interface PublicJwk {
  readonly kty: string
  readonly crv: string
  readonly x: string
  readonly kid: string
  readonly alg: "EdDSA"
  readonly use: "sig"
}

export interface AccessTokensShape {
  readonly algorithm: Algorithm
  readonly issuer: string
  readonly mint: (input: MintInput) => Effect.Effect<Minted, InvalidRequest | ScopesNotHeld>
  readonly verify: (token: Redacted.Redacted<string>, options?: VerifyOptions) => Effect.Effect<Verified, VerifyError>
  /** The verifying keys (current and retired within retention); empty for HS256, whose keys are secret. */
  readonly jwks: Effect.Effect<{ readonly keys: ReadonlyArray<PublicJwk> }>
  /**
   * How many entries the in-memory tables hold now (for tests and monitoring): `verifiedTokens` (at
   * most 10 000) and `derivedKeys` (one per key of the keyring seen).
   */
  readonly memoryEntries: () => { readonly verifiedTokens: number; readonly derivedKeys: number }
}

export class AccessTokens extends Context.Service<AccessTokens, AccessTokensShape>()(
  "@gatehouse-auth/core/AccessTokens"
) {}

/** Is this bearer text shaped like a JWT (three dot-separated segments, a JSON header)? Cheap. */
export const looksLikeJwt = (text: string): boolean => {
  if (!text.startsWith("eyJ")) return false
  const first = text.indexOf(".")
  const second = text.indexOf(".", first + 1)
  return first > 0 && second > first && text.indexOf(".", second + 1) < 0
}

export interface Options {
  /** `iss`: the server's public origin (`http://127.0.0.1:3773`). */
  readonly issuer: string
  /** Default `EdDSA` (Ed25519). `HS256` keeps the keys secret: no JWKS, no outside verifier. */
  readonly algorithm?: Algorithm | undefined
  /** Audiences this server accepts (default: the issuer alone). */
  readonly audiences?: ReadonlyArray<string> | undefined
  readonly defaultExpiresIn?: Duration.Input | undefined
  readonly maxExpiresIn?: Duration.Input | undefined
  /** How far `exp` may be passed and still count (default 5 seconds): clocks of two machines differ. */
  readonly clockSkew?: Duration.Input | undefined
}

const Claims = Schema.Struct({
  iss: Schema.String,
  aud: Schema.String,
  sub: Subject,
  iat: Schema.Int,
  exp: Schema.Int,
  jti: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/)),
  scope: Schema.String.check(Schema.isMaxLength(64 * 170)),
  sid: SessionId,
  once: Schema.optional(Schema.Literal(true)),
  client_id: Schema.optional(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(2048))),
  cnf: Schema.optional(Schema.Struct({ jkt: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{43}$/)) }))
})
type Claims = typeof Claims.Type
const decodeClaims = Schema.decodeUnknownOption(Claims)

const kidPattern = /^[A-Za-z0-9_-]{1,64}$/

/** The DER prefix of a PKCS #8 Ed25519 private key; the 32-byte seed follows it. */
const ed25519Pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex")

interface DerivedKey {
  readonly kid: string
  readonly signing: Crypto.KeyObject
  readonly verifying: Crypto.KeyObject
  readonly jwk: PublicJwk | undefined
}

/** The access-token key of a keyring key: HMAC-SHA256 of it over a label naming the algorithm. */
export const deriveKey = (algorithm: Algorithm, kid: string, keyringKey: Uint8Array): DerivedKey => {
  const seed = hmacSha256(keyringKey, `gatehouse/access-token/${algorithm}/v1`)
  if (algorithm === "HS256") {
    const secret = Crypto.createSecretKey(seed)
    return { kid, signing: secret, verifying: secret, jwk: undefined }
  }
  const signing = Crypto.createPrivateKey({
    key: Buffer.concat([ed25519Pkcs8Prefix, seed]),
    format: "der",
    type: "pkcs8"
  })
  const verifying = Crypto.createPublicKey(signing)
  const exported = verifying.export({ format: "jwk" })
  return {
    kid,
    signing,
    verifying,
    jwk: { kty: exported.kty!, crv: exported.crv!, x: exported.x!, kid, alg: "EdDSA", use: "sig" }
  }
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const keyring = yield* SigningKeyring.SigningKeyring
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const store = yield* SessionStore.SessionStore
  const algorithm: Algorithm = options.algorithm ?? "EdDSA"
  const issuer = options.issuer
  const audiences = options.audiences ?? [issuer]
  const defaultTtl = yield* Durations.toMillis("defaultExpiresIn", options.defaultExpiresIn, Duration.minutes(15))
  const maxTtl = yield* Durations.toMillis("maxExpiresIn", options.maxExpiresIn, Duration.hours(24))
  const skew = yield* Durations.toMillis("clockSkew", options.clockSkew, Duration.seconds(5))

  /** Derived keys by kid (a derivation costs two key imports; a keyring holds a handful of keys). */
  const derived = new Map<string, DerivedKey>()
  const keyFor = (key: { readonly kid: string; readonly key: Redacted.Redacted<Uint8Array> }): DerivedKey => {
    const hit = derived.get(key.kid)
    if (hit !== undefined) return hit
    const made = deriveKey(algorithm, key.kid, Redacted.value(key.key))
    derived.set(key.kid, made)
    return made
  }

  const mint = Effect.fn("AccessTokens.mint")(function*(input: MintInput) {
    const scopes = [...new Set(input.scopes)]
    if (scopes.length === 0 || !Scopes.isScopes(scopes)) {
      return yield* new InvalidRequest({ message: `scopes must be 1 to 64 valid scopes (admin, or action:type[:id])` })
    }
    // `covers` lets `admin` only through a session that holds `admin`.
    const missing = Scopes.missing(input.session.scopes, scopes)
    if (missing.length > 0) return yield* new ScopesNotHeld({ scopes: missing })
    // A bound session mints only tokens bound to its own key: an unbound one would carry off
    // exactly what the binding protects (a script in the page could mint and copy it).
    if (input.session.jkt !== undefined && input.jkt !== input.session.jkt) {
      return yield* new InvalidRequest({
        message: "A session bound to a DPoP key mints only tokens bound to that key (send a DPoP proof by it)"
      })
    }
    const ttl = input.expiresIn === undefined
      ? defaultTtl
      : yield* Durations.toMillis("expiresIn", input.expiresIn, Duration.minutes(15)).pipe(
        Effect.mapError((error) => new InvalidRequest({ message: error.message }))
      )
    if (ttl > maxTtl) {
      return yield* new InvalidRequest({ message: `expiresIn must be at most ${Math.floor(maxTtl / 1000)} seconds` })
    }
    const audience = input.audience ?? issuer
    if (audience.length === 0 || audience.length > 256) {
      return yield* new InvalidRequest({ message: "audience must be 1 to 256 characters" })
    }
    const now = yield* Clock.currentTimeMillis
    const iat = Math.floor(now / 1000)
    const exp = Math.floor((now + ttl) / 1000)
    const jti = randomId(16)
    const current = keyFor(yield* keyring.current)
    const claims: Claims = {
      iss: issuer,
      aud: audience,
      sub: input.session.subject,
      iat,
      exp,
      jti,
      scope: scopes.join(" "),
      sid: input.session.sid,
      ...(input.oneTimeUse === true ? { once: true as const } : {}),
      ...(input.clientId === undefined ? {} : { client_id: input.clientId }),
      ...(input.jkt === undefined ? {} : { cnf: { jkt: input.jkt } })
    }
    const text = yield* Effect.promise(() =>
      new Jose.SignJWT({ ...claims })
        .setProtectedHeader({ alg: algorithm, typ: tokenType, kid: current.kid })
        .sign(current.signing)
    )
    return { token: Redacted.make(text, { label: "access-token" }), jti, expiresAt: exp * 1000, scopes }
  })

  /**
   * Tokens whose signature and claims checked out, by the SHA-256 of their text, until their `exp`
   * (plus the skew). Only a verified token is entered, so an altered one always takes the full path.
   * Bounded: cleared whole at 10 000 entries.
   */
  const verified = new Map<string, Claims>()

  const invalid = (reason: InvalidAccessToken["reason"]) => Effect.fail(new InvalidAccessToken({ reason }))

  const parseJson = (bytes: Buffer): unknown => {
    try {
      return JSON.parse(bytes.toString("utf8"))
    } catch {
      return undefined
    }
  }

  /**
   * The header of a token, checked: a JSON object with exactly the algorithm configured, `typ`
   * `at+jwt` and a well-formed `kid`, and no `crit` (no extension is understood here).
   */
  const checkHeader = (bytes: Buffer): string | InvalidAccessToken => {
    const header = parseJson(bytes)
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      return new InvalidAccessToken({ reason: "Malformed" })
    }
    const { alg, crit, kid, typ } = header as Record<string, unknown>
    if (alg !== algorithm) return new InvalidAccessToken({ reason: "WrongAlgorithm" })
    if (typ !== tokenType) return new InvalidAccessToken({ reason: "WrongType" })
    if (crit !== undefined) return new InvalidAccessToken({ reason: "Malformed" })
    if (typeof kid !== "string" || !kidPattern.test(kid)) return new InvalidAccessToken({ reason: "UnknownKey" })
    return kid
  }

  const signatureValid = (key: DerivedKey, input: string, signature: Buffer): boolean =>
    algorithm === "EdDSA"
      ? signature.byteLength === 64 && Crypto.verify(null, Buffer.from(input, "latin1"), key.verifying, signature)
      : constantTimeEqual(hmacSha256(key.verifying, input), signature)

  /** The claims of a payload whose signature checked out: Schema, `iss`, `aud`, `exp`, `nbf`. */
  const checkClaims = (bytes: Buffer, now: number): Claims | InvalidAccessToken | ExpiredAccessToken => {
    const json = parseJson(bytes)
    const decoded = decodeClaims(json)
    if (Option.isNone(decoded)) return new InvalidAccessToken({ reason: "Malformed" })
    const claims = decoded.value
    if (!Scopes.isScopes(claims.scope.split(" "))) return new InvalidAccessToken({ reason: "Malformed" })
    if (claims.iss !== issuer) return new InvalidAccessToken({ reason: "WrongIssuer" })
    const nbf = (json as { readonly nbf?: unknown }).nbf
    if (nbf !== undefined && !(typeof nbf === "number" && nbf * 1000 <= now + skew)) {
      return new InvalidAccessToken({ reason: "Malformed" })
    }
    if (now >= claims.exp * 1000 + skew) return new ExpiredAccessToken()
    return claims
  }

  /**
   * The full check of a token not seen before: three canonical base64url segments (one spelling per
   * token), the header, a known key, the signature, then the claims. Synchronous (node:crypto) when
   * the key is loaded; an unknown key id goes through `keyring.byId`, which may reload.
   */
  const checkSignature = (
    text: string,
    digest: string,
    now: number
  ): Effect.Effect<Claims, InvalidAccessToken | ExpiredAccessToken> => {
    const first = text.indexOf(".")
    const second = text.indexOf(".", first + 1)
    if (first < 0 || second < 0 || text.indexOf(".", second + 1) >= 0) return invalid("Malformed")
    const header = Base64Url.decodeOrUndefined(text.slice(0, first))
    const payload = Base64Url.decodeOrUndefined(text.slice(first + 1, second))
    const signature = Base64Url.decodeOrUndefined(text.slice(second + 1))
    if (header === undefined || payload === undefined || signature === undefined) return invalid("Malformed")
    const kid = checkHeader(header)
    if (kid instanceof InvalidAccessToken) return Effect.fail(kid)
    return Effect.flatMap(keyring.byId(kid), (found) => {
      if (Option.isNone(found)) return invalid("UnknownKey")
      if (!signatureValid(keyFor(found.value), text.slice(0, second), signature)) return invalid("BadSignature")
      const claims = checkClaims(payload, now)
      if (claims instanceof InvalidAccessToken || claims instanceof ExpiredAccessToken) return Effect.fail(claims)
      if (verified.size >= 10_000) verified.clear()
      verified.set(digest, claims)
      return Effect.succeed(claims)
    })
  }

  /** What the server adds to a valid signature: expiry, the live session, the one-time record. */
  const accept = (
    claims: Claims,
    digest: string,
    now: number,
    options: VerifyOptions | undefined
  ): Effect.Effect<Verified, VerifyError> => {
    // The audience is checked on every path (a remembered token too): one token text may be
    // presented where it belongs and where it does not.
    const audienceOk = options?.audience !== undefined
      ? claims.aud === options.audience
      : audiences.includes(claims.aud) && claims.client_id === undefined
    if (!audienceOk) return invalid("WrongAudience")
    const expiresAt = claims.exp * 1000
    if (now >= expiresAt + skew) {
      verified.delete(digest)
      return Effect.fail(new ExpiredAccessToken())
    }
    return Effect.flatMap(sessions.get(claims.sid), (found): Effect.Effect<Verified, VerifyError> => {
      if (Option.isNone(found)) {
        verified.delete(digest)
        return invalid("Revoked")
      }
      const session = found.value
      const own = claims.scope.split(" ")
      const result: Verified = {
        session: { ...session, scopes: own.filter((scope) => Scopes.covers(session.scopes, scope)) },
        jti: claims.jti,
        expiresAt,
        audience: claims.aud,
        oneTimeUse: claims.once === true,
        ...(claims.client_id === undefined ? {} : { clientId: claims.client_id }),
        ...(claims.cnf === undefined ? {} : { jkt: claims.cnf.jkt })
      }
      if (claims.once !== true) return Effect.succeed(result)
      return Effect.flatMap(
        store.consumeTicket(`at.${claims.jti}`, expiresAt + skew, now),
        (first) => first ? Effect.succeed(result) : invalid("Replayed")
      )
    })
  }

  const verify = (token: Redacted.Redacted<string>, options?: VerifyOptions): Effect.Effect<Verified, VerifyError> =>
    Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const text = Redacted.value(token)
      if (typeof text !== "string" || text.length > maxLength) return invalid("Malformed")
      const digest = sha256Base64Url(text)
      const hit = verified.get(digest)
      if (hit !== undefined) return accept(hit, digest, now, options)
      return Effect.flatMap(checkSignature(text, digest, now), (claims) => accept(claims, digest, now, options))
    })

  const jwks = Effect.gen(function*() {
    if (algorithm !== "EdDSA") return { keys: [] }
    const keys: Array<PublicJwk> = []
    for (const { kid } of yield* keyring.list) {
      const found = yield* keyring.byId(kid)
      if (Option.isSome(found)) keys.push(keyFor(found.value).jwk!)
    }
    // Newest first: the current key leads.
    return { keys: keys.reverse() }
  })

  return AccessTokens.of({
    algorithm,
    issuer,
    mint,
    verify,
    jwks,
    memoryEntries: () => ({ verifiedTokens: verified.size, derivedKeys: derived.size })
  })
})

/** Needs the `SigningKeyring`, the `SessionCredentialService` and the `SessionStore`. */
export const layer = (options: Options) => Layer.effect(AccessTokens, make(options))
