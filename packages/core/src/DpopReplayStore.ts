/**
 * STAND-IN of the DpopReplayStore interface (owned by the dpop-core work, which replaces this file
 * on merge): the proof ids (`jti`) a key has used, each until its proof can no longer be fresh.
 */
import { Context, Effect, Layer } from "effect"
import type { StoreError } from "./Errors.ts"

export interface DpopReplayStoreShape {
  /** `true` the first time `jti` is recorded for `jkt`, `false` on every replay. */
  readonly record: (jkt: string, jti: string, expiresAt: number, now: number) => Effect.Effect<boolean, StoreError>
}

export class DpopReplayStore extends Context.Service<DpopReplayStore, DpopReplayStoreShape>()(
  "@gatehouse-auth/core/DpopReplayStore"
) {}

export const makeMemory = Effect.sync(() => {
  const seen = new Map<string, number>()
  return DpopReplayStore.of({
    record: (jkt, jti, expiresAt, now) =>
      Effect.sync(() => {
        for (const [key, expiry] of seen) {
          if (expiry > now) break
          seen.delete(key)
        }
        const key = `${jkt}.${jti}`
        if (seen.has(key)) return false
        seen.set(key, expiresAt)
        return true
      })
  })
})

export const layerMemory = Layer.effect(DpopReplayStore, makeMemory)
