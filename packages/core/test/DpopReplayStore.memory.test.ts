// The DpopReplayStore conformance suite against the memory store, and the memory store's own
// rules: bounded (full of live entries: a StoreError, never an early forget), expired entries
// dropped from the oldest end.
import { assert, describe, it } from "@effect/vitest"
import { DpopReplayStoreConformance } from "@gatehouse-auth/testing"
import { Effect } from "effect"
import * as DpopReplayStore from "../src/DpopReplayStore.ts"

DpopReplayStoreConformance.run("memory", () => DpopReplayStore.layerMemoryWith({}))

describe("DpopReplayStore memory", () => {
  it.effect("full of live entries: a StoreError (a 503), and every live entry is still refused", () =>
    Effect.gen(function*() {
      const store = yield* DpopReplayStore.makeMemory({ maxEntries: 3 })
      for (const jti of ["a", "b", "c"]) assert.isTrue(yield* store.record("k", jti, 65_000, 0))
      const full = yield* Effect.flip(store.record("k", "d", 65_000, 1))
      assert.strictEqual(full._tag, "StoreError")
      assert.strictEqual(full.message, "The DPoP replay store could not record a proof")
      for (const jti of ["a", "b", "c"]) assert.isFalse(yield* store.record("k", jti, 65_000, 2))
    }))

  it.effect("at the cap, entries that expired make room", () =>
    Effect.gen(function*() {
      const store = yield* DpopReplayStore.makeMemory({ maxEntries: 2 })
      assert.isTrue(yield* store.record("k", "a", 10_000, 0))
      assert.isTrue(yield* store.record("k", "b", 20_000, 0))
      assert.isTrue(yield* store.record("k", "c", 30_000, 10_000))
      assert.strictEqual((yield* Effect.flip(store.record("k", "d", 40_000, 19_999)))._tag, "StoreError")
      assert.isTrue(yield* store.record("k", "a", 40_000, 20_000))
      assert.isFalse(yield* store.record("k", "c", 40_000, 20_000))
    }))

  it.effect("an entry that expires behind a longer-lived older one is kept longer, never shorter", () =>
    Effect.gen(function*() {
      const store = yield* DpopReplayStore.makeMemory({ maxEntries: 2 })
      assert.isTrue(yield* store.record("k", "long", 65_000, 0))
      assert.isTrue(yield* store.record("k", "short", 10_000, 0))
      // "short" has expired but waits behind "long" in the sweep: the store is still full...
      assert.strictEqual((yield* Effect.flip(store.record("k", "new", 65_000, 20_000)))._tag, "StoreError")
      // ...yet the expired pair itself is new again, and "long" is still refused.
      assert.isTrue(yield* store.record("k", "short", 80_000, 20_000))
      assert.isFalse(yield* store.record("k", "long", 65_000, 20_000))
      // Once "long" expires both go.
      assert.isTrue(yield* store.record("k", "new", 150_000, 90_000))
    }))

  it.effect("100 000 records and their expiry stay fast (no scan per call)", () =>
    Effect.gen(function*() {
      const store = yield* DpopReplayStore.makeMemory()
      const started = performance.now()
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < DpopReplayStore.maxMemoryEntries; i++) {
          const now = round * 1_000_000 + i
          if (!(yield* store.record("k", `${round}-${i}`, now + 65_000, now))) assert.fail("refused")
        }
      }
      assert.isBelow(performance.now() - started, 5_000)
    }))
})
