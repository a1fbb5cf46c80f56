// DpopProof: the htu normalisation (RFC 3986 6.2.2 and 6.2.3), the canonical compact JWS parser
// and the RFC 7638 thumbprint, with fast-check properties and hostile input.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as Jose from "jose"
import * as DpopProof from "../src/DpopProof.ts"
import { makeKey, proof } from "./fixtures/dpop.ts"

const hostChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
const pathChar = fc.constantFrom(
  ..."abcXYZ019-._~!$&'()*+,;=:@/%",
  "%7E",
  "%7e",
  "%2F",
  "%2f",
  "%20",
  "%2E",
  "é",
  " ",
  "\\",
  "\u{1F600}",
  "\uD800"
)
const url = fc.record({
  scheme: fc.constantFrom("http", "https", "HTTP", "HtTpS"),
  host: fc.string({ unit: hostChar, minLength: 1, maxLength: 20 }),
  port: fc.option(fc.integer({ min: 0, max: 70000 }), { nil: undefined }),
  path: fc.string({ unit: pathChar, maxLength: 40 }),
  tail: fc.constantFrom("", "?a=1", "#f", "?a#b")
}).map(({ host, path, port, scheme, tail }) =>
  `${scheme}://${host}${port === undefined ? "" : `:${port}`}${path.length > 0 ? `/${path}` : ""}${tail}`
)

describe("DpopProof.normaliseUrl", () => {
  it("lower-cases scheme and host, drops the default port, query and fragment; empty path is /", () => {
    assert.strictEqual(DpopProof.normaliseUrl("HTTPS://Example.COM:443?x#y"), "https://example.com/")
    assert.strictEqual(DpopProof.normaliseUrl("http://example.com:80/a"), "http://example.com/a")
    assert.strictEqual(DpopProof.normaliseUrl("http://example.com:443/a"), "http://example.com:443/a")
    assert.strictEqual(DpopProof.normaliseUrl("https://example.com:08443/a"), "https://example.com:8443/a")
    assert.strictEqual(DpopProof.normaliseUrl("https://example.com:/a"), "https://example.com/a")
    assert.strictEqual(DpopProof.normaliseUrl("http://[::1]:3773/x"), "http://[::1]:3773/x")
    assert.strictEqual(DpopProof.normaliseUrl("http://[::FFFF:7F00:1]/x"), "http://[::ffff:7f00:1]/x")
  })

  it("percent-encoding: hex upper-cased, unreserved decoded, others kept; raw non-URI characters encoded", () => {
    assert.strictEqual(DpopProof.normaliseUrl("https://h/%7e%41%2f%3a"), "https://h/~A%2F%3A")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/a b/é"), "https://h/a%20b/%C3%A9")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/a%20b/%c3%a9"), "https://h/a%20b/%C3%A9")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/100%"), "https://h/100%25")
    assert.strictEqual(DpopProof.normaliseUrl("https://%45xample.com/"), "https://example.com/")
  })

  it("dot segments removed (RFC 3986 5.2.4), encoded dots too; a different path stays different", () => {
    assert.strictEqual(DpopProof.normaliseUrl("https://h/a/b/c/./../../g"), "https://h/a/g")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/a/%2E%2e/b"), "https://h/b")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/../../x"), "https://h/x")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/a/."), "https://h/a/")
    assert.strictEqual(DpopProof.normaliseUrl("https://h/a/.."), "https://h/")
    assert.notStrictEqual(DpopProof.normaliseUrl("https://h/a/b"), DpopProof.normaliseUrl("https://h/a/b/"))
    assert.notStrictEqual(DpopProof.normaliseUrl("https://h/a%2Fb"), DpopProof.normaliseUrl("https://h/a/b"))
  })

  it("a long query or fragment is dropped before the length bound; a path over 8 KB is refused", () => {
    assert.strictEqual(DpopProof.normaliseUrl(`https://h/p?${"q".repeat(20_000)}`), "https://h/p")
    assert.strictEqual(DpopProof.normaliseUrl(`https://h/p#${"f".repeat(20_000)}`), "https://h/p")
    assert.isUndefined(DpopProof.normaliseUrl(`https://h/${"p".repeat(9_000)}`))
  })

  it("refuses other schemes, relative references, userinfo, an empty host and bad ports", () => {
    for (
      const input of [
        "ftp://h/",
        "ws://h/",
        "/api/hello",
        "https:/h/",
        "https://user@h/",
        "https://user:pw@h/",
        "https:///x",
        "https://h:99999/",
        "https://h:12a/",
        "https://[::1/",
        "https://[zz]/",
        "",
        "x".repeat(9000)
      ]
    ) {
      assert.isUndefined(DpopProof.normaliseUrl(input), input)
    }
  })

  it("property: total (never throws) and idempotent on URLs and on arbitrary text", () => {
    fc.assert(
      fc.property(fc.oneof(url, fc.string(), fc.string({ unit: "binary" })), (input) => {
        const once = DpopProof.normaliseUrl(input)
        return once === undefined || DpopProof.normaliseUrl(once) === once
      }),
      { numRuns: 5_000 }
    )
  })

  it("property: case of scheme and host, default port and unreserved percent-encoding never change the result", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: hostChar, minLength: 1, maxLength: 20 }),
        fc.string({ unit: fc.constantFrom(..."abcXYZ019-._~"), maxLength: 20 }),
        (host, segment) => {
          const plain = DpopProof.normaliseUrl(`https://${host}/p/${segment}`)
          const encoded = [...segment].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("")
          return plain !== undefined &&
            DpopProof.normaliseUrl(`HTTPS://${host.toUpperCase()}:443/p/${encoded}?q`) === plain &&
            DpopProof.normaliseUrl(`https://${host}/x/../p/./${segment}#f`) === plain
        }
      ),
      { numRuns: 2_000 }
    )
  })

  it("property: the result has the shape scheme://host[:port]/path, with no query, fragment or raw space", () => {
    fc.assert(
      fc.property(url, (input) => {
        const out = DpopProof.normaliseUrl(input)
        return out === undefined || /^https?:\/\/[^/?#\s]+\/[^?#\s]*$/.test(out)
      }),
      { numRuns: 3_000 }
    )
  })
})

describe("DpopProof.parseCompact", () => {
  it("splits a proof into its decoded header, payload, signature and signing input", () => {
    const text = proof({ key: makeKey(), jti: "x" })
    const parsed = DpopProof.parseCompact(text)!
    assert.strictEqual((parsed.header as { typ: string }).typ, "dpop+jwt")
    assert.strictEqual((parsed.payload as { jti: string }).jti, "x")
    assert.strictEqual(parsed.signature.byteLength, 64)
    assert.strictEqual(parsed.signingInput, text.slice(0, text.lastIndexOf(".")))
  })

  it("refuses wrong segment counts, empty segments, non-JSON, JSON that is not an object, non-canonical base64url", () => {
    const b = (value: string) => Buffer.from(value).toString("base64url")
    const obj = b("{}")
    for (
      const input of [
        "",
        ".",
        "..",
        `${obj}.${obj}`,
        `${obj}.${obj}.AA.AA`,
        `.${obj}.AA`,
        `${obj}..AA`,
        `${obj}.${obj}.`,
        `${b("[]")}.${obj}.AA`,
        `${b("1")}.${obj}.AA`,
        `${b("null")}.${obj}.AA`,
        `${b("{")}.${obj}.AA`,
        `${obj}.${obj}.AB`,
        `${obj}=.${obj}.AA`,
        `${obj}.${obj}.A+`
      ]
    ) {
      assert.isUndefined(DpopProof.parseCompact(input), input)
    }
    assert.isDefined(DpopProof.parseCompact(`${obj}.${obj}.AA`))
  })

  it("property: never throws; whatever it accepts re-encodes to exactly the input", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(fc.oneof(fc.base64String(), fc.constant("e30"), fc.string()), { minLength: 1, maxLength: 4 }).map((
            parts
          ) => parts.map((part) => part.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")).join("."))
        ),
        (input) => {
          const parsed = DpopProof.parseCompact(input)
          if (parsed === undefined) return true
          return `${parsed.signingInput}.${parsed.signature.toString("base64url")}` === input
        }
      ),
      { numRuns: 5_000 }
    )
  })
})

describe("DpopProof.publicKeyFor and thumbprint", () => {
  it.effect("the thumbprint is RFC 7638's, as jose computes it, for P-256 and Ed25519 keys", () =>
    Effect.gen(function*() {
      for (const alg of ["ES256", "Ed25519"] as const) {
        const key = makeKey(alg)
        const jwk = DpopProof.publicKeyFor(alg, { ...key.jwk, kid: "ignored", use: "sig" })
        assert.isObject(jwk)
        const expected = yield* Effect.promise(() => Jose.calculateJwkThumbprint(key.jwk as Jose.JWK, "sha256"))
        assert.strictEqual(DpopProof.thumbprint(jwk as DpopProof.PublicKeyJwk), expected)
      }
    }))

  it("the thumbprint takes the required members in lexicographic order, whatever order the jwk has", () => {
    const key = makeKey("ES256")
    const reordered = { y: key.jwk.y, x: key.jwk.x, kty: "EC", crv: "P-256" }
    assert.strictEqual(
      DpopProof.thumbprint(DpopProof.publicKeyFor("ES256", reordered) as DpopProof.PublicKeyJwk),
      DpopProof.thumbprint(DpopProof.publicKeyFor("ES256", key.jwk) as DpopProof.PublicKeyJwk)
    )
  })

  it("refuses private members, wrong key types, wrong coordinates and a use other than sig", () => {
    const ec = makeKey("ES256")
    const ed = makeKey("Ed25519")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", ec.privateJwk), "private")
    assert.strictEqual(DpopProof.publicKeyFor("EdDSA", ed.privateJwk), "private")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", ed.jwk), "bad")
    assert.strictEqual(DpopProof.publicKeyFor("Ed25519", ec.jwk), "bad")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", { ...ec.jwk, x: `${ec.jwk.x}A` }), "bad")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", { ...ec.jwk, y: undefined }), "bad")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", { ...ec.jwk, use: "enc" }), "bad")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", "a string"), "bad")
    assert.strictEqual(DpopProof.publicKeyFor("ES256", [ec.jwk]), "bad")
  })
})
