/**
 * Per-address token buckets for credential attempts. A bucket holds `capacity` tokens (default 10)
 * and refills at `capacity` per `window` (default 1 minute). An address is *locked out* of a budget
 * while its bucket has less than one token: it gets 429 with `Retry-After` until a token is back.
 *
 * Three budgets, kept apart so that one cannot use up the other:
 *
 * - `pairing`: bootstrap (pairing) codes. A token is *reserved* when the request arrives, before
 *   the code is looked at, so however many requests arrive in parallel at most `capacity` codes
 *   are evaluated; it is refunded when the code is accepted (or none was evaluated).
 * - `token`: session cookies, bearer tokens, WebSocket tickets, MCP credentials. A token is taken
 *   when one is refused (a valid one never is, so junk from a shared address cannot lock a live
 *   session out); once none is left, a refused credential is answered 429 instead of 401.
 * - `guest`: `POST /api/auth/guest-session`. Reserved like `pairing`, before the guest cookie is
 *   looked at; given back when the answer is a guest found by its cookie (or nothing was looked
 *   at), kept when a guest was created, a legacy token tried or a cookie not found.
 *
 * Addresses are grouped: an IPv4 address (or IPv4-mapped IPv6) is its own group, an IPv6 address
 * is grouped by its /64 (one host, one subnet: a client can pick any address in its /64).
 *
 * Memory is bounded by `maxEntries` with bounded work per call: buckets are kept in a list in
 * order of last charge (oldest first). Each charge looks at no more than `scanLimit` of the
 * oldest buckets, dropping full ones (they carry no information) and, when the table is full,
 * evicting the oldest that is not locked out; a locked-out bucket is never evicted (it is moved
 * to the back). When every bucket looked at is locked out, the new address is charged to a shared
 * overflow bucket, which bounds what a flood of fresh addresses can try to `capacity` per window.
 */
import { Durations } from "@gatehouse-auth/core"
import { Clock, Context, Duration, Effect, Layer, Result } from "effect"
import { NetAddress } from "effect/net"

export type Budget = "pairing" | "token" | "guest"

export interface RateLimiterShape {
  /**
   * Takes one token of `budget` for `address` if one is left and answers 0; else answers the
   * seconds until one is back, and takes nothing.
   */
  readonly reserve: (budget: Budget, address: string) => Effect.Effect<number>
  /** Gives back a token taken by `reserve` (the credential was good, or none was evaluated). */
  readonly refund: (budget: Budget, address: string) => Effect.Effect<void>
  /** Seconds until `address` may try `budget` again, or 0 when it has a token left. */
  readonly retryAfter: (budget: Budget, address: string) => Effect.Effect<number>
  /** How many buckets are tracked (for tests and metrics). */
  readonly size: () => number
}

export class RateLimiter extends Context.Service<RateLimiter, RateLimiterShape>()("@gatehouse-auth/http/RateLimiter") {}

export interface Options {
  readonly capacity?: number | undefined
  readonly window?: Duration.Input | undefined
  readonly maxEntries?: number | undefined
  /** Most buckets looked at per charge when making room (default 8). */
  readonly scanLimit?: number | undefined
}

interface Bucket {
  tokens: number
  updatedAt: number
}

/** A tracked bucket: also a node of the list in order of last charge. */
interface Entry extends Bucket {
  readonly key: string
  older: Entry | undefined
  newer: Entry | undefined
}

const octet = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
const canonicalIpv4 = new RegExp(`^${octet}\\.${octet}\\.${octet}\\.${octet}$`)

/**
 * The group an address is limited as: IPv4 (and IPv4-mapped IPv6) as is, IPv6 by its /64
 * (`2001:db8:1:2::/64`); anything that is not an IP address (`unknown`) as is.
 */
export const addressGroup = (address: string): string => {
  // The usual case, a canonical dotted quad, is its own group without a parse.
  if (canonicalIpv4.test(address)) return address
  const zone = address.indexOf("%")
  const parsed = NetAddress.ipFromString(zone < 0 ? address : address.slice(0, zone))
  if (Result.isFailure(parsed)) return address
  const ip = parsed.success
  if (NetAddress.isIpv4Address(ip)) return NetAddress.formatIp(ip)
  const mapped = NetAddress.fromIpv4Mapped(ip)
  if (mapped._tag === "Some") return NetAddress.formatIp(mapped.value)
  const segments = NetAddress.ipv6ToSegments(ip)
  return `${segments.slice(0, 4).map((segment) => segment.toString(16)).join(":")}::/64`
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
  const maxEntries = Math.max(1, options.maxEntries ?? 100_000)
  const scanLimit = Math.max(1, options.scanLimit ?? 8)
  /**
   * By key, and in order of last charge (oldest first) as a doubly linked list: a Map's own order
   * is no good here, since finding its first entry after many deletions from the front walks every
   * deleted slot until the Map is rehashed (O(n) per charge in a full table).
   */
  const buckets = new Map<string, Entry>()
  let oldest: Entry | undefined
  let newest: Entry | undefined
  /** Shared by the new addresses that found the table full of locked-out buckets, per budget. */
  const overflow: Record<Budget, Bucket | undefined> = { pairing: undefined, token: undefined, guest: undefined }

  const keyOf = (budget: Budget, address: string) => `${budget} ${addressGroup(address)}`

  const unlink = (entry: Entry) => {
    if (entry.older === undefined) oldest = entry.newer
    else entry.older.newer = entry.newer
    if (entry.newer === undefined) newest = entry.older
    else entry.newer.older = entry.older
    entry.older = entry.newer = undefined
  }

  const append = (entry: Entry) => {
    entry.older = newest
    entry.newer = undefined
    if (newest === undefined) oldest = entry
    else newest.newer = entry
    newest = entry
  }

  const refill = (bucket: Bucket, now: number) => {
    bucket.tokens = Math.min(capacity, bucket.tokens + Math.max(0, now - bucket.updatedAt) * perMilli)
    bucket.updatedAt = now
  }

  const wait = (bucket: Bucket) => bucket.tokens >= 1 ? 0 : (1 - bucket.tokens) / perMilli / 1000

  /**
   * Looks at no more than `scanLimit` of the oldest buckets: drops the full ones and, while the
   * table is full, evicts the oldest that is not locked out. True when there is room for one more.
   */
  const makeRoom = (now: number, charged: Entry | undefined): boolean => {
    for (let looked = 0; looked < scanLimit; looked++) {
      const entry = oldest
      if (entry === undefined) break
      refill(entry, now)
      const full = entry.tokens >= capacity
      if (!full && buckets.size < maxEntries) break
      unlink(entry)
      // Locked out, or the one being charged: never evicted; it goes to the back.
      if (entry === charged || (!full && entry.tokens < 1)) append(entry)
      else buckets.delete(entry.key)
    }
    return buckets.size < maxEntries
  }

  /** The bucket `key` is charged to: its own, a new one, or the overflow bucket when there is no room. */
  const bucketFor = (budget: Budget, key: string, now: number): Bucket => {
    const existing = buckets.get(key)
    const room = makeRoom(now, existing)
    if (existing !== undefined) {
      // Last charged now: to the back of the order.
      unlink(existing)
      append(existing)
      return existing
    }
    if (room) {
      const entry: Entry = { key, tokens: capacity, updatedAt: now, older: undefined, newer: undefined }
      buckets.set(key, entry)
      append(entry)
      return entry
    }
    return overflow[budget] ??= { tokens: capacity, updatedAt: now }
  }

  // Untraced and synchronous: every refused credential and every pairing attempt comes through here.
  const withNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
    Clock.clockWith((clock) => Effect.succeed(f(clock.currentTimeMillisUnsafe())))

  const reserve = (budget: Budget, address: string) =>
    withNow((now) => {
      const bucket = bucketFor(budget, keyOf(budget, address), now)
      refill(bucket, now)
      if (bucket.tokens < 1) return wait(bucket)
      bucket.tokens -= 1
      return 0
    })

  const refund = (budget: Budget, address: string) =>
    withNow((now) => {
      // Evicted meanwhile (it was not locked out), or charged to the overflow bucket: nothing is
      // given back (the shared bucket only refills with time).
      const bucket = buckets.get(keyOf(budget, address))
      if (bucket === undefined) return
      refill(bucket, now)
      bucket.tokens = Math.min(capacity, bucket.tokens + 1)
    })

  const retryAfter = (budget: Budget, address: string) =>
    withNow((now) => {
      const bucket = buckets.get(keyOf(budget, address))
      if (bucket === undefined) return 0
      refill(bucket, now)
      return wait(bucket)
    })

  return RateLimiter.of({ reserve, refund, retryAfter, size: () => buckets.size })
}

export const layer = (options: Options = {}) => Layer.effect(RateLimiter, Effect.map(make(options), RateLimiter.of))
