/**
 * Per-address token buckets for credential failures. A bucket holds `capacity` tokens (default
 * 10) and refills at `capacity` per `window` (default 1 minute); each failure takes one. When a
 * bucket is empty, the address gets 429 with `Retry-After` until a token is back.
 *
 * Memory is bounded: full buckets carry no information and are dropped by a sweep, and beyond
 * `maxEntries` addresses the oldest entries are dropped.
 */
import { Durations } from "@gatehouse-auth/core"
import { Clock, Context, Duration, Effect, Layer } from "effect"

export interface RateLimiterShape {
  /** Seconds until `key` may try again, or 0 when it has a token left. */
  readonly retryAfter: (key: string) => Effect.Effect<number>
  /** Records a failure for `key`; returns seconds until it may try again (0 if it still may). */
  readonly recordFailure: (key: string) => Effect.Effect<number>
  /** How many addresses are tracked (for tests and metrics). */
  readonly size: () => number
}

export class RateLimiter extends Context.Service<RateLimiter, RateLimiterShape>()("@gatehouse-auth/http/RateLimiter") {}

export interface Options {
  readonly capacity?: number | undefined
  readonly window?: Duration.Input | undefined
  readonly maxEntries?: number | undefined
}

interface Bucket {
  tokens: number
  updatedAt: number
}

/** The limiter; a `window` that is not a positive duration is an `InvalidDuration`. */
export const make = (options: Options = {}): Effect.Effect<RateLimiterShape, Durations.InvalidDuration> =>
  Effect.map(
    Durations.toMillis("rateLimit.window", options.window, Duration.minutes(1)),
    (windowMillis) => makeWith(options, windowMillis)
  )

const makeWith = (options: Options, windowMillis: number): RateLimiterShape => {
  const capacity = options.capacity ?? 10
  const perMilli = capacity / windowMillis
  const maxEntries = options.maxEntries ?? 100_000
  const buckets = new Map<string, Bucket>()
  let nextSweep = 0

  const refill = (bucket: Bucket, now: number) => {
    bucket.tokens = Math.min(capacity, bucket.tokens + Math.max(0, now - bucket.updatedAt) * perMilli)
    bucket.updatedAt = now
  }

  const sweep = (now: number) => {
    if (now < nextSweep && buckets.size < maxEntries) return
    nextSweep = now + windowMillis
    for (const [key, bucket] of buckets) {
      refill(bucket, now)
      if (bucket.tokens >= capacity) buckets.delete(key)
    }
    // Still too many: drop the oldest (Map iteration is insertion order).
    for (const key of buckets.keys()) {
      if (buckets.size < maxEntries) break
      buckets.delete(key)
    }
  }

  const wait = (bucket: Bucket) => bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) / perMilli / 1000

  return {
    retryAfter: (key) =>
      Clock.clockWith((clock) =>
        Effect.sync(() => {
          const bucket = buckets.get(key)
          if (bucket === undefined) return 0
          refill(bucket, clock.currentTimeMillisUnsafe())
          return wait(bucket)
        })
      ),
    recordFailure: (key) =>
      Clock.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.currentTimeMillisUnsafe()
          sweep(now)
          let bucket = buckets.get(key)
          if (bucket === undefined) {
            bucket = { tokens: capacity, updatedAt: now }
            buckets.set(key, bucket)
          }
          refill(bucket, now)
          bucket.tokens = Math.max(0, bucket.tokens - 1)
          return wait(bucket)
        })
      ),
    size: () => buckets.size
  }
}

export const layer = (options: Options = {}) => Layer.effect(RateLimiter, Effect.map(make(options), RateLimiter.of))
