import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import * as fc from "fast-check"
import * as Interval from "../src/Interval.ts"

const millis = (text: string) => {
  const parsed = Interval.parse(text)
  return parsed === undefined ? undefined : Duration.toMillis(parsed)
}

describe("Interval.parse", () => {
  it("reads a number and a unit, long or short, any case, spaces optional", () => {
    assert.strictEqual(millis("500ms"), 500)
    assert.strictEqual(millis("200 millis"), 200)
    assert.strictEqual(millis("30s"), 30_000)
    assert.strictEqual(millis("30 seconds"), 30_000)
    assert.strictEqual(millis("1 second"), 1_000)
    assert.strictEqual(millis("10m"), 600_000)
    assert.strictEqual(millis(" 10 Minutes "), 600_000)
    assert.strictEqual(millis("1.5h"), 5_400_000)
    assert.strictEqual(millis("1 day"), 86_400_000)
  })

  it("refuses what is not one duration of at least the minimum", () => {
    for (
      const text of [
        "",
        "10",
        "m",
        "forever",
        "Infinity",
        "-5s",
        "1e3s",
        "5 fortnights",
        "5s5s",
        "0x10s",
        "1.2345s",
        "99ms",
        "0s",
        "constructor",
        "1 __proto__",
        "1 toString"
      ]
    ) {
      assert.isUndefined(Interval.parse(text), text)
    }
    assert.isUndefined(Interval.parse("5s", "10 seconds"))
    assert.strictEqual(Duration.toMillis(Interval.parse("10s", "10 seconds")!), 10_000)
  })

  it("property: never throws; anything it accepts is finite, at least 100 ms, and a whole number of ms", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          fc.stringMatching(/^\s*\d{1,12}(\.\d{1,5})?\s*[a-zA-Z_]{0,14}\s*$/)
        ),
        (text) => {
          const parsed = Interval.parse(text)
          if (parsed === undefined) return true
          const value = Duration.toMillis(parsed)
          return Number.isFinite(value) && value >= 100 && Number.isInteger(value)
        }
      ),
      { numRuns: 2_000 }
    )
  })

  it("property: n<unit> is n times the unit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.constantFrom(["s", 1_000], ["minutes", 60_000], ["h", 3_600_000]),
        (n, [unit, size]) => millis(`${n}${unit}`) === n * (size as number)
      )
    )
  })
})
