/**
 * Storage of guests (anonymous identities, see `GuestSessionService`) behind one interface so
 * memory, SQLite and Postgres are interchangeable. The cookie that identifies a guest is never
 * stored: only its keyed hash, so a leaked store names no cookie.
 *
 * Every time rule is the caller's: the store takes `now` and `before` as arguments and never reads
 * a clock.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { StoreError } from "./Errors.ts"
import type { GuestId } from "./Ids.ts"

export interface GuestRecord {
  readonly id: GuestId
  /**
   * HMAC-SHA256 of the guest's cookie (base64url; see `GuestSessionService`). `undefined` for a
   * legacy guest, known only by a guest token issued before the cookie, until that token re-binds
   * it (`bindCookie`).
   */
  readonly cookieHash: string | undefined
  readonly createdAt: number
  readonly lastSeenAt: number
  readonly revokedAt: number | undefined
  /** When a legacy guest token bound this guest to its cookie (`undefined` if none ever did). */
  readonly migratedAt: number | undefined
}

export interface GuestStoreShape {
  /**
   * Adds `record` unless a guest with its id or its cookie hash exists: `true` for the one caller
   * whose record went in, whatever the concurrency, `false` for every other.
   */
  readonly insert: (record: GuestRecord) => Effect.Effect<boolean, StoreError>
  readonly get: (id: GuestId) => Effect.Effect<Option.Option<GuestRecord>, StoreError>
  readonly findByCookieHash: (cookieHash: string) => Effect.Effect<Option.Option<GuestRecord>, StoreError>
  /** Moves `lastSeenAt` forward to `at` (never backwards). */
  readonly touch: (id: GuestId, at: number) => Effect.Effect<void, StoreError>
  /**
   * Binds the guest `id` to `cookieHash` (and sets `migratedAt` and `lastSeenAt` to `at`) only if
   * it has no cookie yet and is not revoked: `true` for exactly one caller, `false` for the rest.
   */
  readonly bindCookie: (id: GuestId, cookieHash: string, at: number) => Effect.Effect<boolean, StoreError>
  /** Marks the guest revoked at `at`; `true` if it was live (a second revoke answers `false`). */
  readonly revoke: (id: GuestId, at: number) => Effect.Effect<boolean, StoreError>
  /** Up to `limit` guests, newest first (`createdAt`, then id). */
  readonly list: (limit: number) => Effect.Effect<ReadonlyArray<GuestRecord>, StoreError>
  /** Deletes every guest last seen at or before `before`, revoked or not; returns how many. */
  readonly prune: (before: number) => Effect.Effect<number, StoreError>
}

export class GuestStore extends Context.Service<GuestStore, GuestStoreShape>()("@gatehouse-auth/core/GuestStore") {}

export interface MemoryOptions {
  /**
   * Most guests held (default 100 000). At the cap the guest created earliest is dropped to make
   * room: memory stays bounded even if pruning has not run and creation is not rate limited.
   */
  readonly maxGuests?: number | undefined
}

/** Guests in `Map`s. Every operation is one synchronous step, so each is atomic. */
export const makeMemory = (options: MemoryOptions = {}) =>
  Effect.sync(() => {
    const maxGuests = Math.max(1, options.maxGuests ?? 100_000)
    const guests = new Map<GuestId, GuestRecord>()
    const byCookie = new Map<string, GuestId>()

    /**
     * Ids in creation order, read from `head`: the next one dropped at the cap. Not the Map's own
     * order: finding a Map's first key after many deletions from its front walks every deleted
     * slot (O(n) per insert at the cap). Ids already gone (pruned) are skipped; compacted when
     * mostly read or mostly stale, so the work stays O(1) per insert on average.
     */
    let order: Array<GuestId> = []
    let head = 0
    const dropEarliest = () => {
      while (head < order.length) {
        const id = order[head++]!
        if (guests.has(id)) return drop(id)
      }
    }
    const remember = (id: GuestId) => {
      order.push(id)
      if (head > 1024 && head * 2 > order.length) {
        order = order.slice(head)
        head = 0
      } else if (order.length - head > 2 * guests.size + 1024) {
        order = order.slice(head).filter((each) => guests.has(each))
        head = 0
      }
    }

    const put = (record: GuestRecord) => {
      guests.set(record.id, record)
      if (record.cookieHash !== undefined) byCookie.set(record.cookieHash, record.id)
    }
    const drop = (id: GuestId) => {
      const record = guests.get(id)
      if (record === undefined) return
      guests.delete(id)
      if (record.cookieHash !== undefined) byCookie.delete(record.cookieHash)
    }
    const update = (id: GuestId, change: (record: GuestRecord) => GuestRecord | undefined) => {
      const record = guests.get(id)
      const next = record === undefined ? undefined : change(record)
      if (next === undefined) return false
      // `set` on an existing key keeps its place in the creation order.
      put(next)
      return true
    }

    return GuestStore.of({
      insert: (record) =>
        Effect.sync(() => {
          if (guests.has(record.id)) return false
          if (record.cookieHash !== undefined && byCookie.has(record.cookieHash)) return false
          while (guests.size >= maxGuests) dropEarliest()
          put(record)
          remember(record.id)
          return true
        }),
      get: (id) => Effect.sync(() => Option.fromNullishOr(guests.get(id))),
      findByCookieHash: (cookieHash) =>
        Effect.sync(() => {
          const id = byCookie.get(cookieHash)
          return Option.fromNullishOr(id === undefined ? undefined : guests.get(id))
        }),
      touch: (id, at) =>
        Effect.sync(() =>
          void update(id, (record) => at > record.lastSeenAt ? { ...record, lastSeenAt: at } : undefined)
        ),
      bindCookie: (id, cookieHash, at) =>
        Effect.sync(() =>
          !byCookie.has(cookieHash) && update(id, (record) =>
            record.cookieHash === undefined && record.revokedAt === undefined
              ? { ...record, cookieHash, migratedAt: at, lastSeenAt: Math.max(record.lastSeenAt, at) }
              : undefined)
        ),
      revoke: (id, at) =>
        Effect.sync(() =>
          update(id, (record) => record.revokedAt === undefined ? { ...record, revokedAt: at } : undefined)
        ),
      list: (limit) =>
        Effect.sync(() =>
          [...guests.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
            .slice(0, Math.max(0, limit))
        ),
      prune: (before) =>
        Effect.sync(() => {
          const old = [...guests.values()].filter((record) => record.lastSeenAt <= before)
          for (const record of old) drop(record.id)
          return old.length
        })
    })
  })

export const layerMemory = (options: MemoryOptions = {}) => Layer.effect(GuestStore, makeMemory(options))
