/**
 * The proof ids (`jti`) of DPoP proofs already used, per key (`jkt`), behind one interface so
 * memory, SQLite and PostgreSQL are interchangeable. `record` is `true` exactly once for a pair
 * while its entry lives, in every process sharing the store; that is what makes a proof single-use.
 *
 * An entry must live until `expiresAt` = the proof's `iat` + the verifier's back window, not the
 * time of receipt + the window: a proof made `ahead` seconds in the future stays acceptable until
 * its `iat` + the window, so forgetting it earlier would let it replay.
 *
 * Only `DpopVerifier.consume` writes here, after the token and its binding verified, so a flood of
 * unauthenticated proofs cannot fill the store.
 */
import { Context, Effect, Layer } from "effect"
import { StoreError } from "./Errors.ts"

export interface DpopReplayStoreShape {
  /**
   * Records (`jkt`, `jti`) until `expiresAt` (ms); `true` the first time, `false` while an entry for
   * the pair is unexpired at `now`. An expired entry counts as absent.
   */
  readonly record: (jkt: string, jti: string, expiresAt: number, now: number) => Effect.Effect<boolean, StoreError>
}

export class DpopReplayStore extends Context.Service<DpopReplayStore, DpopReplayStoreShape>()(
  "@gatehouse-auth/core/DpopReplayStore"
) {}

/**
 * The most entries the memory store holds (default). With the default 65-second life of an entry,
 * that is over 1 500 bound requests a second, sustained, on one process.
 */
export const maxMemoryEntries = 100_000

export interface MemoryOptions {
  /** The most live entries held (default `maxMemoryEntries`). */
  readonly maxEntries?: number | undefined
}

/**
 * Entries in a `Map`, which keeps insertion order. Entries arrive in nearly increasing `expiresAt`
 * (each is `iat` + the window, and `iat` is within seconds of the time of receipt), so expired
 * entries are dropped from the oldest end until one is still live: O(1) amortised per call, no
 * scan. An entry that expires before an older, longer-lived one waits behind it: it is kept longer
 * than it needs to be (at most the width of the window), never shorter.
 *
 * Full of live entries: the record fails with a `StoreError` (a 503: the client may retry), never
 * forgets a live entry early, which would let its proof replay. Every call is one synchronous step,
 * so each is atomic.
 */
export const makeMemory = (options: MemoryOptions = {}) =>
  Effect.sync(() => {
    const cap = options.maxEntries ?? maxMemoryEntries
    const entries = new Map<string, number>()

    const sweep = (now: number) => {
      for (const [key, expiresAt] of entries) {
        if (expiresAt > now) return
        entries.delete(key)
      }
    }

    return DpopReplayStore.of({
      record: (jkt, jti, expiresAt, now) =>
        Effect.suspend(() => {
          sweep(now)
          // The thumbprint's length first: no (jkt, jti) pair can spell another pair's key.
          const key = `${jkt.length}:${jkt}${jti}`
          const existing = entries.get(key)
          if (existing !== undefined && existing > now) return Effect.succeed(false)
          if (existing !== undefined) entries.delete(key)
          if (entries.size >= cap) {
            return Effect.fail(
              new StoreError({ store: "DPoP replay", operation: "record a proof", cause: "the memory store is full" })
            )
          }
          entries.set(key, expiresAt)
          return Effect.succeed(true)
        })
    })
  })

/** The memory store with the default cap (one process only: replays across instances need SQL). */
export const layerMemory: Layer.Layer<DpopReplayStore> = Layer.effect(DpopReplayStore, makeMemory())

/** The memory store with another cap. */
export const layerMemoryWith = (options: MemoryOptions): Layer.Layer<DpopReplayStore> =>
  Layer.effect(DpopReplayStore, makeMemory(options))
