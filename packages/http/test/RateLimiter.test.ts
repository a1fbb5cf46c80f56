import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as RateLimiter from "../src/RateLimiter.ts"

/** Uses up `address`'s `budget` (10 reservations kept). */
const lockOut = (limiter: RateLimiter.RateLimiterShape, address: string, budget: RateLimiter.Budget = "pairing") =>
  Effect.gen(function*() {
    for (let i = 0; i < 10; i++) assert.strictEqual(yield* limiter.reserve(budget, address), 0)
    assert.isAbove(yield* limiter.retryAfter(budget, address), 0)
  })

describe("RateLimiter (token bucket, TestClock)", () => {
  it.effect("10 attempts a minute per address, then a wait that refills", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      for (let i = 0; i < 9; i++) assert.strictEqual(yield* limiter.reserve("pairing", "10.0.0.1"), 0)
      assert.strictEqual(yield* limiter.retryAfter("pairing", "10.0.0.1"), 0)
      assert.strictEqual(yield* limiter.reserve("pairing", "10.0.0.1"), 0)
      // The bucket is empty: one token comes back every 6 seconds; a refused reservation takes nothing.
      assert.strictEqual(yield* limiter.reserve("pairing", "10.0.0.1"), 6)
      assert.strictEqual(yield* limiter.retryAfter("pairing", "10.0.0.1"), 6)
      assert.strictEqual(yield* limiter.retryAfter("pairing", "10.0.0.2"), 0)
      yield* TestClock.adjust("5999 millis")
      assert.isAbove(yield* limiter.retryAfter("pairing", "10.0.0.1"), 0)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* limiter.retryAfter("pairing", "10.0.0.1"), 0)
      // A full minute refills the whole budget.
      yield* TestClock.adjust("1 minute")
      for (let i = 0; i < 10; i++) assert.strictEqual(yield* limiter.reserve("pairing", "10.0.0.1"), 0)
    }))

  it.effect("a refund gives the reserved token back", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ capacity: 2 })
      for (let i = 0; i < 100; i++) {
        assert.strictEqual(yield* limiter.reserve("pairing", "a"), 0)
        yield* limiter.refund("pairing", "a")
      }
      assert.strictEqual(yield* limiter.reserve("pairing", "a"), 0)
      assert.strictEqual(yield* limiter.reserve("pairing", "a"), 0)
      assert.isAbove(yield* limiter.reserve("pairing", "a"), 0)
    }))

  it.effect("the pairing and token budgets are apart", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      yield* lockOut(limiter, "10.0.0.1", "token")
      assert.strictEqual(yield* limiter.reserve("pairing", "10.0.0.1"), 0)
    }))

  it.effect("a custom capacity and window", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ capacity: 2, window: "10 seconds" })
      assert.strictEqual(yield* limiter.reserve("pairing", "a"), 0)
      assert.strictEqual(yield* limiter.reserve("pairing", "a"), 0)
      assert.strictEqual(yield* limiter.reserve("pairing", "a"), 5)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* limiter.retryAfter("pairing", "a"), 0)
    }))

  it("groups IPv6 by /64, IPv4-mapped IPv6 as IPv4, anything else as is", () => {
    assert.strictEqual(RateLimiter.addressGroup("2001:db8:1:2::1"), "2001:db8:1:2::/64")
    assert.strictEqual(RateLimiter.addressGroup("2001:0DB8:0001:0002:ffff:1:2:3"), "2001:db8:1:2::/64")
    assert.strictEqual(RateLimiter.addressGroup("fe80::1%eth0"), "fe80:0:0:0::/64")
    assert.strictEqual(RateLimiter.addressGroup("::ffff:192.0.2.7"), "192.0.2.7")
    assert.strictEqual(RateLimiter.addressGroup("192.0.2.7"), "192.0.2.7")
    assert.strictEqual(RateLimiter.addressGroup("unknown"), "unknown")
  })

  it.effect("IPv6 addresses of one /64 share a bucket", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      for (let i = 0; i < 10; i++) assert.strictEqual(yield* limiter.reserve("pairing", `2001:db8:1:2::${i + 1}`), 0)
      assert.isAbove(yield* limiter.reserve("pairing", "2001:db8:1:2:ffff:ffff:ffff:ffff"), 0)
      assert.strictEqual(yield* limiter.reserve("pairing", "2001:db8:1:3::1"), 0)
      assert.strictEqual(limiter.size(), 2)
    }))

  it.effect("memory stays bounded however many addresses try", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxEntries: 1000 })
      for (let i = 0; i < 20_000; i++) yield* limiter.reserve("pairing", `10.0.${i >> 8}.${i & 255}`)
      // Entries beyond the bound were dropped: the first addresses have a full budget again.
      assert.strictEqual(yield* limiter.retryAfter("pairing", "10.0.0.0"), 0)
      assert.isAtMost(limiter.size(), 1000)
    }))

  it.effect("bounded work per charge: full buckets go a few at a time, never in a sweep of the table", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxEntries: 10_000, scanLimit: 8 })
      for (let i = 0; i < 1000; i++) yield* limiter.reserve("pairing", `10.0.${i >> 8}.${i & 255}`)
      assert.strictEqual(limiter.size(), 1000)
      // Every bucket is full again; a full-table sweep would drop all 1000 at the next charge.
      yield* TestClock.adjust("2 minutes")
      yield* limiter.reserve("pairing", "192.0.2.1")
      assert.strictEqual(limiter.size(), 1000 - 8 + 1)
      yield* limiter.reserve("pairing", "192.0.2.1")
      assert.strictEqual(limiter.size(), 1000 - 16 + 1)
    }))

  it.effect("a locked-out address is never evicted, however many new ones arrive", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxEntries: 100 })
      yield* lockOut(limiter, "10.0.0.1")
      for (let i = 0; i < 10_000; i++) yield* limiter.reserve("pairing", `10.1.${i >> 8}.${i & 255}`)
      assert.isAtMost(limiter.size(), 100)
      assert.isAbove(yield* limiter.reserve("pairing", "10.0.0.1"), 0)
    }))

  it.effect("when every tracked address is locked out, new ones share one overflow bucket", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ maxEntries: 4 })
      for (let i = 0; i < 4; i++) yield* lockOut(limiter, `10.0.0.${i}`)
      // No room: the newcomers draw on one shared budget of 10, and nobody locked out is dropped.
      for (let i = 0; i < 10; i++) assert.strictEqual(yield* limiter.reserve("pairing", `192.0.2.${i}`), 0)
      assert.isAbove(yield* limiter.reserve("pairing", "192.0.2.200"), 0)
      assert.strictEqual(limiter.size(), 4)
      for (let i = 0; i < 4; i++) assert.isAbove(yield* limiter.retryAfter("pairing", `10.0.0.${i}`), 0)
      // Once the locks have run out, newcomers get buckets of their own again.
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* limiter.reserve("pairing", "192.0.2.201"), 0)
      assert.strictEqual(limiter.size(), 1)
    }))
})

describe("RateLimiter caps at 1,000,000 distinct addresses", () => {
  const million = 1_000_000
  const ipv4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`

  it.effect("1,000,000 IPv4 addresses: never more than maxEntries buckets", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      let peak = 0
      for (let i = 0; i < million; i++) {
        yield* limiter.reserve("token", ipv4(i))
        if (i % 1000 === 0) peak = Math.max(peak, limiter.size())
      }
      assert.isAtMost(peak, 100_000)
      assert.isAtMost(limiter.size(), 100_000)
    }), 120_000)

  it.effect("1,000,000 IPv6 addresses of one /64 are one bucket, locked out after 10", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make()
      let accepted = 0
      for (let i = 0; i < million; i++) {
        const host = `${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`
        if ((yield* limiter.reserve("pairing", `2001:db8:5:6:0:0:${host}`)) === 0) accepted++
      }
      assert.strictEqual(accepted, 10)
      assert.strictEqual(limiter.size(), 1)
    }), 120_000)

  it.effect(
    "a table full of locked-out addresses: 1,000,000 newcomers share 10 attempts, no lock evicted",
    () =>
      Effect.gen(function*() {
        const maxEntries = 10_000
        const limiter = yield* RateLimiter.make({ maxEntries })
        for (let i = 0; i < maxEntries; i++) yield* lockOut(limiter, `192.168.${i >> 8}.${i & 255}`)
        let accepted = 0
        for (let i = 0; i < million; i++) {
          if ((yield* limiter.reserve("pairing", ipv4(i))) === 0) accepted++
        }
        // The overflow bucket: guessing from fresh addresses stays at one budget per window.
        assert.strictEqual(accepted, 10)
        assert.strictEqual(limiter.size(), maxEntries)
        for (let i = 0; i < maxEntries; i += 97) {
          assert.isAbove(yield* limiter.retryAfter("pairing", `192.168.${i >> 8}.${i & 255}`), 0)
        }
      }),
    120_000
  )
})
