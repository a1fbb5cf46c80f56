import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Option } from "effect"
import * as fc from "fast-check"
import * as Durations from "../src/Durations.ts"

const millis = (text: string) => {
  const parsed = Durations.parse(text)
  return parsed === undefined ? undefined : Duration.toMillis(parsed)
}

describe("Durations.parse", () => {
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
      assert.isUndefined(Durations.parse(text), text)
    }
    assert.isUndefined(Durations.parse("5s", "10 seconds"))
    assert.strictEqual(Duration.toMillis(Durations.parse("10s", "10 seconds")!), 10_000)
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
          const parsed = Durations.parse(text)
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

describe("Durations.toMillis", () => {
  it.effect("takes any Duration.Input, defaults when absent, and refuses what is not a positive finite duration", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Durations.toMillis("ttl", "2 minutes", Duration.seconds(1)), 120_000)
      assert.strictEqual(yield* Durations.toMillis("ttl", Duration.hours(1), Duration.seconds(1)), 3_600_000)
      assert.strictEqual(yield* Durations.toMillis("ttl", undefined, Duration.seconds(1)), 1_000)
      for (const input of [0, -1, Duration.zero, Duration.infinity, "soon", "10 parsecs", Number.NaN]) {
        const error = yield* Effect.flip(Durations.toMillis("ttl", input as Duration.Input, Duration.seconds(1)))
        assert.strictEqual(error._tag, "InvalidDuration")
        assert.include(error.message, "ttl must be a positive duration")
      }
    }))
})

describe("Durations.config", () => {
  const read = (env: Record<string, string>) =>
    Effect.gen(function*() {
      return yield* Durations.config("GATEHOUSE_X")
    }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))

  it.effect("reads the same grammar as the command line; absent is None; anything else fails", () =>
    Effect.gen(function*() {
      for (const [text, expected] of [["10m", 600_000], ["10 minutes", 600_000], ["1.5h", 5_400_000]] as const) {
        const value = yield* read({ GATEHOUSE_X: text })
        assert.strictEqual(Duration.toMillis(Option.getOrThrow(value)), expected, text)
      }
      assert.isTrue(Option.isNone(yield* read({})))
      // An empty variable counts as unset, as the environment provider reads it.
      assert.isTrue(Option.isNone(yield* read({ GATEHOUSE_X: "" })))
      for (const text of ["ten minutes", "10", "10 parsecs", " "]) {
        assert.isTrue(Exit.isFailure(yield* Effect.exit(read({ GATEHOUSE_X: text }))), JSON.stringify(text))
      }
    }))
})
