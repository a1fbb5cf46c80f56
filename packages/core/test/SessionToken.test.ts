import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Base64Url from "../src/Base64Url.ts"
import * as Ids from "../src/Ids.ts"
import * as SessionToken from "../src/SessionToken.ts"

const claims: SessionToken.Claims = {
  kind: "session",
  sid: Ids.SessionId.make("abc"),
  sub: "owner",
  scopes: ["read:hello"],
  method: "pairing",
  iat: 1,
  exp: 2
}

describe("Base64Url", () => {
  it("accepts only the canonical spelling", () => {
    assert.deepStrictEqual([...Base64Url.decodeOrUndefined("AA")!], [0])
    for (const bad of ["AB", "AA==", "A", "A+", "A/", "AA AA", "ÀA", "AA\n"]) {
      assert.isUndefined(Base64Url.decodeOrUndefined(bad), bad)
    }
  })

  it("property: decode(encode(bytes)) = bytes, and decode never throws", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const decoded = Base64Url.decodeOrUndefined(Base64Url.encode(bytes))
      return decoded !== undefined && Buffer.compare(decoded, bytes) === 0
    }))
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (input) => {
        const decoded = Base64Url.decodeOrUndefined(input)
        return decoded === undefined || Base64Url.encode(decoded) === input
      }),
      { numRuns: 2000 }
    )
  })
})

describe("SessionToken", () => {
  it("parses what it assembles", () => {
    const input = SessionToken.signingInput("kid1", claims)
    const token = SessionToken.assemble(input, Buffer.alloc(32, 1).toString("base64url"))
    const parsed = SessionToken.parse(token)!
    assert.strictEqual(parsed.kid, "kid1")
    assert.strictEqual(parsed.signingInput, input)
    assert.deepStrictEqual(SessionToken.decodeClaims(parsed.payload), claims)
  })

  it("rejects claims that fail their schema", () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
    for (
      const bad of [
        { ...claims, kind: "admin" },
        { ...claims, exp: -1 },
        { ...claims, exp: 1.5 },
        { ...claims, sid: "../etc" },
        { ...claims, scopes: "read:hello" },
        { kind: "ws-ticket", sid: "a", iat: 1, exp: 2 },
        null,
        [],
        "session"
      ]
    ) assert.isUndefined(SessionToken.decodeClaims(encode(bad)), JSON.stringify(bad))
    assert.isUndefined(SessionToken.decodeClaims(Buffer.from("{not json").toString("base64url")))
  })

  it("property: parse and decodeClaims never throw, whatever the input", () => {
    const segment = fc.string({ unit: fc.constantFrom(..."AZaz09-_=.+/ "), maxLength: 50 })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 5000 }),
          fc.array(segment, { maxLength: 7 }).map((s) => s.join("."))
        ),
        (input) => {
          const parsed = SessionToken.parse(input)
          if (parsed !== undefined) SessionToken.decodeClaims(parsed.payload)
          SessionToken.decodeClaims(input)
          return true
        }
      ),
      { numRuns: 3000 }
    )
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = SessionToken.decodeClaims(Buffer.from(JSON.stringify(value) ?? "").toString("base64url"))
        return decoded === undefined || ["session", "ws-ticket", "guest"].includes(decoded.kind)
      }),
      { numRuns: 2000 }
    )
  })
})
