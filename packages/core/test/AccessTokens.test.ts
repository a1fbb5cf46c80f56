import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as AccessTokens from "../src/AccessTokens.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SessionStore from "../src/SessionStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const issuer = "http://127.0.0.1:3773"

const setup = (options: Partial<AccessTokens.Options> = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      AccessTokens.layer({ issuer, ...options }).pipe(
        Layer.provideMerge(Sessions.layer()),
        Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
        Layer.provideMerge(SessionStore.layerMemory),
        Layer.provide(ServerSecretStore.layerMemory())
      )
    )
    const sessions = Context.get(context, Sessions.SessionCredentialService)
    const tokens = Context.get(context, AccessTokens.AccessTokens)
    const keyring = Context.get(context, SigningKeyring.SigningKeyring)
    const session = (scopes: ReadonlyArray<string> = ["read:hello", "write:tasks", "read:access", "write:access"]) =>
      Effect.map(sessions.issue({ subject: "owner", scopes, method: "pairing" }), ({ session }) => session)
    return { sessions, tokens, keyring, session }
  })

const text = (token: Redacted.Redacted<string>) => Redacted.value(token)
const redact = (raw: string) => Redacted.make(raw)

/** A token signed with the server's own current key, with any header and claims. */
const forge = (
  keyring: SigningKeyring.SigningKeyringShape,
  header: Record<string, unknown>,
  claims: Record<string, unknown>
) =>
  Effect.gen(function*() {
    const current = yield* keyring.current
    const key = AccessTokens.deriveKey("EdDSA", current.kid, Redacted.value(current.key))
    // Signed by hand: jose itself would refuse to write some of these headers (`crit`).
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
    const input = `${encode({ alg: "EdDSA", typ: "at+jwt", kid: current.kid, ...header })}.${encode(claims)}`
    return `${input}.${Crypto.sign(null, Buffer.from(input), key.signing).toString("base64url")}`
  })

const claimsOf = (raw: string) => JSON.parse(Buffer.from(raw.split(".")[1]!, "base64url").toString("utf8"))

describe("AccessTokens: DPoP binding (cnf.jkt)", () => {
  const jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
  const other = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

  it.effect("a token minted with jkt carries cnf.jkt, and verify exposes it; without, neither", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup()
      const owner = yield* session()
      const bound = yield* tokens.mint({ session: owner, scopes: ["read:hello"], jkt })
      assert.deepStrictEqual(claimsOf(text(bound.token)).cnf, { jkt })
      assert.strictEqual((yield* tokens.verify(bound.token)).jkt, jkt)
      const plain = yield* tokens.mint({ session: owner, scopes: ["read:hello"] })
      assert.isUndefined(claimsOf(text(plain.token)).cnf)
      assert.isUndefined((yield* tokens.verify(plain.token)).jkt)
    }))

  it.effect("a bound session mints only tokens bound to its own key", () =>
    Effect.gen(function*() {
      const { sessions, tokens } = yield* setup()
      const { session } = yield* sessions.issue({
        subject: "owner",
        scopes: ["read:hello"],
        method: "pairing",
        transport: "bearer",
        jkt
      })
      assert.strictEqual(session.jkt, jkt)
      assert.strictEqual(
        errorTag(yield* Effect.exit(tokens.mint({ session, scopes: ["read:hello"] }))),
        "InvalidRequest"
      )
      assert.strictEqual(
        errorTag(yield* Effect.exit(tokens.mint({ session, scopes: ["read:hello"], jkt: other }))),
        "InvalidRequest"
      )
      const minted = yield* tokens.mint({ session, scopes: ["read:hello"], jkt })
      assert.strictEqual((yield* tokens.verify(minted.token)).jkt, jkt)
    }))

  it.effect("a cnf that is not a thumbprint is refused as malformed (a forged claim shape never verifies)", () =>
    Effect.gen(function*() {
      const { keyring, session, tokens } = yield* setup()
      const owner = yield* session()
      const minted = yield* tokens.mint({ session: owner, scopes: ["read:hello"], jkt })
      const claims = { ...claimsOf(text(minted.token)), cnf: { jkt: "not a thumbprint" } }
      const forged = yield* forge(keyring, {}, claims)
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(redact(forged)))), "InvalidAccessToken")
    }))
})

describe("AccessTokens", () => {
  it.effect("mint: a JWT with the narrowed scopes, at+jwt, kid, iss, aud, sub, sid, jti, 15 minutes", () =>
    Effect.gen(function*() {
      const { keyring, session, tokens } = yield* setup()
      const owner = yield* session()
      yield* TestClock.adjust("10 seconds")
      const minted = yield* tokens.mint({ session: owner, scopes: ["write:tasks:foo"] })
      const raw = text(minted.token)
      const header = Jose.decodeProtectedHeader(raw)
      assert.deepStrictEqual(header, { alg: "EdDSA", typ: "at+jwt", kid: (yield* keyring.current).kid })
      const claims = claimsOf(raw)
      assert.deepStrictEqual(claims, {
        iss: issuer,
        aud: issuer,
        sub: "owner",
        iat: 10,
        exp: 10 + 900,
        jti: minted.jti,
        scope: "write:tasks:foo",
        sid: owner.sid
      })
      assert.strictEqual(minted.expiresAt, 910_000)
      const verified = yield* tokens.verify(minted.token)
      assert.deepStrictEqual(verified.session.scopes, ["write:tasks:foo"])
      assert.strictEqual(verified.session.sid, owner.sid)
      assert.strictEqual(verified.oneTimeUse, false)
    }))

  it.effect("narrowing only: a scope the session lacks, admin from an administrative session, bad input", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup()
      const owner = yield* session()
      const mint = (input: Partial<AccessTokens.MintInput>) =>
        Effect.exit(tokens.mint({ session: owner, scopes: ["read:hello"], ...input }))
      assert.strictEqual(errorTag(yield* mint({ scopes: ["write:hello"] })), "ScopesNotHeld")
      assert.strictEqual(errorTag(yield* mint({ scopes: ["admin"] })), "ScopesNotHeld")
      assert.strictEqual(errorTag(yield* mint({ scopes: ["read:hello", "read:runs"] })), "ScopesNotHeld")
      assert.strictEqual(errorTag(yield* mint({ scopes: ["Read:Hello"] })), "InvalidRequest")
      assert.strictEqual(errorTag(yield* mint({ scopes: [] })), "InvalidRequest")
      assert.strictEqual(errorTag(yield* mint({ expiresIn: "25 hours" })), "InvalidRequest")
      assert.strictEqual(errorTag(yield* mint({ expiresIn: "24 hours" })), "success")
      // A type-wide scope covers its ids; admin covers everything.
      assert.strictEqual(errorTag(yield* mint({ scopes: ["write:tasks:foo"] })), "success")
      const root = yield* session(["admin"])
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.mint({ session: root, scopes: ["admin"] }))), "success")
    }))

  it.effect("property: every single-character change of header, payload or signature is refused", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup()
      const raw = text((yield* tokens.mint({ session: yield* session(), scopes: ["read:hello"] })).token)
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u0000é"
      const changes = fc.sample(
        fc.tuple(fc.nat({ max: raw.length - 1 }), fc.constantFrom(...alphabet)).filter(([at, c]) => raw[at] !== c),
        1000
      )
      // Every position with a neighbouring character (the last one of a segment carries padding bits).
      const everyPosition = [...raw].map((c, at) => [at, c === "A" ? "B" : "A"] as const)
      for (const [at, c] of [...everyPosition, ...changes]) {
        const tampered = raw.slice(0, at) + c + raw.slice(at + 1)
        const exit = yield* Effect.exit(tokens.verify(redact(tampered)))
        assert.strictEqual(errorTag(exit), "InvalidAccessToken", `position ${at} -> ${JSON.stringify(c)}`)
      }
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(redact(raw)))), "success")
    }))

  it.effect("alg none, HS256 signed with the public key, wrong typ, iss or aud, unknown kid: all refused", () =>
    Effect.gen(function*() {
      const { keyring, session, tokens } = yield* setup()
      const owner = yield* session()
      const good = claimsOf(text((yield* tokens.mint({ session: owner, scopes: ["read:hello"] })).token))
      const reason = (raw: string) =>
        Effect.map(
          Effect.flip(tokens.verify(redact(raw))),
          (error) => error._tag === "InvalidAccessToken" ? error.reason : error._tag
        )
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

      const current = yield* keyring.current
      const none = `${b64({ alg: "none", typ: "at+jwt", kid: current.kid })}.${b64(good)}.`
      assert.strictEqual(yield* reason(none), "WrongAlgorithm")
      const noneSigned = `${b64({ alg: "none", typ: "at+jwt", kid: current.kid })}.${b64(good)}.AAAA`
      assert.strictEqual(yield* reason(noneSigned), "WrongAlgorithm")

      // The classic confusion: HS256 keyed with the public key's bytes.
      const jwk = (yield* tokens.jwks).keys[0]!
      const publicBytes = Buffer.from(jwk.x, "base64url")
      const input = `${b64({ alg: "HS256", typ: "at+jwt", kid: current.kid })}.${b64(good)}`
      const hs = `${input}.${Crypto.createHmac("sha256", publicBytes).update(input).digest("base64url")}`
      assert.strictEqual(yield* reason(hs), "WrongAlgorithm")

      assert.strictEqual(yield* reason(yield* forge(keyring, { typ: "JWT" }, good)), "WrongType")
      assert.strictEqual(yield* reason(yield* forge(keyring, {}, { ...good, iss: "http://evil" })), "WrongIssuer")
      assert.strictEqual(yield* reason(yield* forge(keyring, {}, { ...good, aud: "http://other" })), "WrongAudience")
      assert.strictEqual(yield* reason(yield* forge(keyring, { kid: "nope" }, good)), "UnknownKey")
      assert.strictEqual(yield* reason(yield* forge(keyring, {}, { ...good, scope: "Admin!" })), "Malformed")
      assert.strictEqual(yield* reason(yield* forge(keyring, { crit: ["exp"] }, good)), "Malformed")
      assert.strictEqual(yield* reason(yield* forge(keyring, {}, { ...good, nbf: 3600 })), "Malformed")
      assert.strictEqual(yield* reason(yield* forge(keyring, {}, { ...good, aud: [issuer] })), "Malformed")
      // The same claims under the real header verify: the refusals above are the changes, not the forging.
      assert.strictEqual(
        errorTag(yield* Effect.exit(tokens.verify(redact(yield* forge(keyring, {}, good))))),
        "success"
      )
    }))

  it.effect("expiry with TestClock: valid until exp plus 5 seconds of skew, then refused (cached or not)", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup()
      const minted = yield* tokens.mint({ session: yield* session(), scopes: ["read:hello"], expiresIn: "2 minutes" })
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(minted.token))), "success")
      yield* TestClock.adjust(Duration.millis(120_000 + 4_999))
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(minted.token))), "success")
      yield* TestClock.adjust(Duration.millis(1))
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(minted.token))), "ExpiredAccessToken")
      // Never seen before, past its expiry: jose's own check refuses it too.
      const late = yield* tokens.mint({ session: yield* session(), scopes: ["read:hello"], expiresIn: "1 minute" })
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(late.token))), "ExpiredAccessToken")
    }))

  it.effect("revoking the minting session kills its tokens at once, cached ones included", () =>
    Effect.gen(function*() {
      const { session, sessions, tokens } = yield* setup()
      const owner = yield* session()
      const minted = yield* tokens.mint({ session: owner, scopes: ["read:hello"] })
      yield* tokens.verify(minted.token)
      yield* tokens.verify(minted.token)
      yield* sessions.revoke(owner.sid)
      const error = yield* Effect.flip(tokens.verify(minted.token))
      assert.strictEqual(error._tag === "InvalidAccessToken" && error.reason, "Revoked")
    }))

  it.effect("a token's scopes are narrowed to what its session still holds", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup()
      const owner = yield* session(["read:hello", "write:tasks"])
      const minted = yield* tokens.mint({ session: owner, scopes: ["read:hello", "write:tasks:foo"] })
      assert.deepStrictEqual((yield* tokens.verify(minted.token)).session.scopes, ["read:hello", "write:tasks:foo"])
    }))

  it.effect("rotation: old tokens verify, new ones carry the new kid, the JWKS lists both", () =>
    Effect.gen(function*() {
      const { keyring, session, tokens } = yield* setup()
      const owner = yield* session()
      const before = yield* tokens.mint({ session: owner, scopes: ["read:hello"] })
      const oldKid = (yield* keyring.current).kid
      const rotated = yield* keyring.rotate
      const after = yield* tokens.mint({ session: owner, scopes: ["read:hello"] })
      assert.strictEqual(Jose.decodeProtectedHeader(text(before.token)).kid, oldKid)
      assert.strictEqual(Jose.decodeProtectedHeader(text(after.token)).kid, rotated.kid)
      assert.notStrictEqual(oldKid, rotated.kid)
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(before.token))), "success")
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(after.token))), "success")
      const jwks = yield* tokens.jwks
      assert.deepStrictEqual(jwks.keys.map((key) => key.kid), [rotated.kid, oldKid])
      for (const key of jwks.keys) {
        assert.deepStrictEqual(Object.keys(key).sort(), ["alg", "crv", "kid", "kty", "use", "x"])
        assert.strictEqual(key.crv, "Ed25519")
      }
      // An outside verifier with the published key alone.
      const outside = yield* Effect.promise(() =>
        Jose.jwtVerify(text(before.token), Jose.createLocalJWKSet(jwks as never), {
          issuer,
          audience: issuer,
          currentDate: new Date(0)
        })
      )
      assert.strictEqual(outside.payload.sub, "owner")
    }))

  it.effect("the derived keys are not the keyring's HMAC key, and differ per algorithm", () =>
    Effect.gen(function*() {
      const { keyring } = yield* setup()
      const current = yield* keyring.current
      const bytes = Redacted.value(current.key)
      const hs = AccessTokens.deriveKey("HS256", current.kid, bytes).signing.export()
      assert.isFalse(Buffer.from(bytes).equals(hs))
      const ed = AccessTokens.deriveKey("EdDSA", current.kid, bytes)
      assert.isFalse(Buffer.from(ed.jwk!.x, "base64url").equals(hs))
    }))

  it.effect("HS256: mints and verifies, publishes no key", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup({ algorithm: "HS256" })
      const minted = yield* tokens.mint({ session: yield* session(), scopes: ["read:hello"] })
      assert.strictEqual(Jose.decodeProtectedHeader(text(minted.token)).alg, "HS256")
      assert.strictEqual(errorTag(yield* Effect.exit(tokens.verify(minted.token))), "success")
      assert.deepStrictEqual((yield* tokens.jwks).keys, [])
    }))

  it.live("oneTimeUse: 100 concurrent verifies, exactly one succeeds", () =>
    Effect.gen(function*() {
      const { session, tokens } = yield* setup()
      const minted = yield* tokens.mint({ session: yield* session(), scopes: ["read:hello"], oneTimeUse: true })
      const exits = yield* Effect.all(Array.from({ length: 100 }, () => Effect.exit(tokens.verify(minted.token))), {
        concurrency: 100
      })
      assert.strictEqual(exits.filter((exit) => errorTag(exit) === "success").length, 1)
      assert.strictEqual(exits.filter((exit) => errorTag(exit) === "InvalidAccessToken").length, 99)
    }))

  it.effect("hostile text is refused, never thrown", () =>
    Effect.gen(function*() {
      const { tokens } = yield* setup()
      const samples = fc.sample(
        fc.oneof(
          fc.string(),
          fc.tuple(fc.string(), fc.string(), fc.string()).map((parts) => parts.join(".")),
          fc.tuple(fc.json(), fc.json()).map(([h, p]) =>
            `${Buffer.from(h).toString("base64url")}.${Buffer.from(p).toString("base64url")}.AAAA`
          )
        ),
        500
      )
      for (const sample of [...samples, "a".repeat(5000), "eyJ..", "..", "eyJhbGciOiJFZERTQSJ9.e30."]) {
        const exit = yield* Effect.exit(tokens.verify(redact(sample)))
        assert.strictEqual(errorTag(exit), "InvalidAccessToken", JSON.stringify(sample).slice(0, 80))
      }
    }))
})
