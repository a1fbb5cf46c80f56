/**
 * The conformance suite of a `DpopReplayStore` (the DPoP proof ids already used, per key):
 * `run(name, makeStore)` registers its tests, with a fresh, empty store per test. The memory
 * store, SQLite and PostgreSQL run it unchanged. "Exactly once" is checked with real concurrency:
 * many fibers at once against one store (on PostgreSQL, a pool).
 */
import { assert, describe, it } from "@effect/vitest"
import { DpopReplayStore } from "@gatehouse-auth/core"
import { Context, Effect, Layer } from "effect"

export interface Options {
  /** Skips the suite with this reason (the backend is not available here); `undefined` runs it. */
  readonly skip?: string | undefined
}

let counter = 0
/** A thumbprint-shaped key id (43 base64url characters), different on every call. */
const jkt = () => `${++counter}x${Math.random().toString(36).slice(2)}`.padEnd(43, "A").slice(0, 43)

export const run = (
  name: string,
  makeStore: () => Layer.Layer<DpopReplayStore.DpopReplayStore, unknown>,
  options: Options = {}
): void => {
  const store = Effect.map(
    Layer.build(makeStore()).pipe(Effect.orDie),
    (context) => Context.get(context, DpopReplayStore.DpopReplayStore)
  )
  const suite = options.skip === undefined ? describe : describe.skip
  suite(
    `DpopReplayStore conformance: ${name}${options.skip === undefined ? "" : ` (skipped: ${options.skip})`}`,
    () => {
      it.effect("the first record of a (jkt, jti) is true, every later one false; other pairs are independent", () =>
        Effect.scoped(Effect.gen(function*() {
          const replay = yield* store
          const key = jkt()
          assert.isTrue(yield* replay.record(key, "jti-1", 65_000, 1_000))
          assert.isFalse(yield* replay.record(key, "jti-1", 65_000, 1_000))
          assert.isFalse(yield* replay.record(key, "jti-1", 70_000, 2_000))
          assert.isTrue(yield* replay.record(key, "jti-2", 65_000, 1_000))
          assert.isTrue(yield* replay.record(jkt(), "jti-1", 65_000, 1_000))
        })))

      it.effect("an entry lives until expiresAt (not until receipt + window); expired, the pair is new again", () =>
        Effect.scoped(Effect.gen(function*() {
          const replay = yield* store
          const key = jkt()
          // Received at 0 with iat 5 s ahead: expires at 65 s.
          assert.isTrue(yield* replay.record(key, "ahead", 65_000, 0))
          assert.isFalse(yield* replay.record(key, "ahead", 65_000, 60_500))
          assert.isFalse(yield* replay.record(key, "ahead", 65_000, 64_999))
          assert.isTrue(yield* replay.record(key, "ahead", 130_000, 65_000))
          assert.isFalse(yield* replay.record(key, "ahead", 130_000, 65_001))
        })))

      it.effect("a pair never spells another pair, and any jti text (256 characters, NUL, emoji) is kept exactly", () =>
        Effect.scoped(Effect.gen(function*() {
          const replay = yield* store
          const key = jkt()
          assert.isTrue(yield* replay.record(`${key}a`, "bc", 65_000, 0))
          assert.isTrue(yield* replay.record(`${key}ab`, "c", 65_000, 0))
          for (const jti of ["j".repeat(256), "nul\u0000byte", "é\u{1F600}", "'; DROP TABLE x; --"]) {
            assert.isTrue(yield* replay.record(key, jti, 65_000, 0), jti)
            assert.isFalse(yield* replay.record(key, jti, 65_000, 0), jti)
          }
        })))

      it.effect("exactly once under concurrency: 16 fibers record each of 10 pairs at once, one true per pair", () =>
        Effect.scoped(Effect.gen(function*() {
          const replay = yield* store
          const key = jkt()
          const jtis = Array.from({ length: 10 }, (_, i) => `race-${i}`)
          const outcomes = yield* Effect.all(
            jtis.flatMap((jti) =>
              Array.from(
                { length: 16 },
                () => Effect.map(replay.record(key, jti, 65_000, 0), (first) => ({ jti, first }))
              )
            ),
            { concurrency: "unbounded" }
          )
          for (const jti of jtis) {
            assert.strictEqual(
              outcomes.filter((outcome) => outcome.jti === jti && outcome.first).length,
              1,
              jti
            )
          }
        })))

      it.effect("expired entries do not keep new ones out: 500 records, then all expire, then 500 more", () =>
        Effect.scoped(Effect.gen(function*() {
          const replay = yield* store
          const key = jkt()
          for (let i = 0; i < 500; i++) assert.isTrue(yield* replay.record(key, `old-${i}`, 65_000 + i, i))
          for (let i = 0; i < 500; i++) assert.isTrue(yield* replay.record(key, `old-${i}`, 200_000, 100_000 + i))
        })))
    }
  )
}
