import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as RateLimiter from "../src/RateLimiter.ts"

describe("RateLimiter (token bucket, TestClock)", () => {
  it.effect("10 failures a minute per address, then a wait that refills", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      for (let i = 0; i < 9; i++) assert.strictEqual(yield* limiter.recordFailure("a"), 0)
      assert.strictEqual(yield* limiter.retryAfter("a"), 0)
      // The tenth failure empties the bucket: one token comes back every 6 seconds.
      assert.strictEqual(yield* limiter.recordFailure("a"), 6)
      assert.strictEqual(yield* limiter.retryAfter("a"), 6)
      assert.strictEqual(yield* limiter.retryAfter("b"), 0)
      yield* TestClock.adjust("5999 millis")
      assert.isAbove(yield* limiter.retryAfter("a"), 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* limiter.retryAfter("a"), 0)
      // A full minute refills the whole budget.
      yield* TestClock.adjust("1 minute")
      for (let i = 0; i < 9; i++) assert.strictEqual(yield* limiter.recordFailure("a"), 0)
    }))

  it.effect("a custom capacity and window", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ capacity: 2, window: "10 seconds" })
      assert.strictEqual(yield* limiter.recordFailure("a"), 0)
      assert.strictEqual(yield* limiter.recordFailure("a"), 5)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* limiter.retryAfter("a"), 0)
    }))

  it.effect("memory stays bounded however many addresses fail", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxEntries: 1000 })
      for (let i = 0; i < 20_000; i++) yield* limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`)
      // Entries beyond the bound were dropped: the first addresses have a full budget again.
      assert.strictEqual(yield* limiter.retryAfter("10.0.0.0"), 0)
      assert.isAtMost(limiter.size(), 1000)
      yield* TestClock.adjust("2 minutes")
      yield* limiter.recordFailure("other")
      assert.strictEqual(limiter.size(), 1)
    }))
})
