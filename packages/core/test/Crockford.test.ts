import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Crockford from "../src/Crockford.ts"

const anyInput = fc.oneof(
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.string({ unit: "grapheme", maxLength: 80 }),
  fc.string({
    unit: fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -_\t\n\u00a0"),
    maxLength: 90
  })
)

describe("Crockford", () => {
  it("generates 16 characters of the Crockford alphabet", () => {
    const seen = new Set<string>()
    for (let i = 0; i < 500; i++) {
      const code = Crockford.generate()
      assert.match(code, /^[0-9A-HJKMNP-TV-Z]{16}$/)
      seen.add(code)
    }
    assert.strictEqual(seen.size, 500)
  })

  it("uses every character of the alphabet (80 bits, 5 per character)", () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 2000; i++) for (const c of Crockford.generate()) counts.set(c, (counts.get(c) ?? 0) + 1)
    assert.strictEqual(counts.size, 32)
    for (const c of Crockford.alphabet) assert.isAbove(counts.get(c) ?? 0, 600)
  })

  it("groups in fours with dashes", () => {
    assert.strictEqual(Crockford.format("ABCDEFGHJKMNPQRS"), "ABCD-EFGH-JKMN-PQRS")
    assert.match(Crockford.format(Crockford.generate()), /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
  })

  it("normalises case, spaces, dashes and I/L/O", () => {
    assert.strictEqual(Crockford.normalize("abcd-efgh-jkmn-pqrs"), "ABCDEFGHJKMNPQRS")
    assert.strictEqual(Crockford.normalize("  abcd efgh\tjkmn - pqrs "), "ABCDEFGHJKMNPQRS")
    assert.strictEqual(Crockford.normalize("ILOO-iloo-1100-ABCD"), "11001100110" + "0ABCD")
    assert.strictEqual(Crockford.normalize("ilo0ILO0abcdabcd"), "1100110" + "0ABCDABCD")
  })

  it("rejects what cannot be a credential", () => {
    for (
      const bad of [
        "",
        "ABCD",
        "ABCD-EFGH-JKMN-PQR",
        "ABCD-EFGH-JKMN-PQRU",
        "ABCD-EFGH-JKMN-PQR!",
        "ABCDEFGHJKMNPQRSı",
        "x".repeat(300),
        "\u0000".repeat(16)
      ]
    ) {
      assert.isUndefined(Crockford.normalize(bad), JSON.stringify(bad))
    }
    // Non-ASCII letters that upper-case onto ASCII ones are refused, not folded.
    assert.isUndefined(Crockford.normalize("ıııı-ıııı-ıııı-ıııı"))
  })

  it("property: any generated code survives formatting, case and spacing", () => {
    fc.assert(fc.property(fc.constant(null).map(() => Crockford.generate()), fc.boolean(), (code, lower) => {
      const shown = Crockford.format(code)
      const typed = lower ? shown.toLowerCase().replace(/-/g, " ") : shown
      return Crockford.normalize(typed) === code
    }))
  })

  it("property: normalisation never throws and returns canonical output or undefined", () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const result = Crockford.normalize(input)
        return result === undefined || /^[0-9A-HJKMNP-TV-Z]{16,64}$/.test(result)
      }),
      { numRuns: 2000 }
    )
  })

  it("property: normalisation is idempotent", () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const once = Crockford.normalize(input)
        return once === undefined || Crockford.normalize(once) === once
      }),
      { numRuns: 1000 }
    )
  })
})
