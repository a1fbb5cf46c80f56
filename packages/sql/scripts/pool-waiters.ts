/**
 * The minimal reproduction behind `StoreGate` (docs/decisions.md, "Bounded store work"): effect's
 * `Pool` with many borrowers waiting and a few failed acquisitions. No database: a fake resource
 * that takes 20 ms to open, the first `fail` openings fail, and each borrower holds it for 1 ms.
 *
 *   node packages/sql/scripts/pool-waiters.ts <borrowers> <fail>
 *
 * On effect 4.1.0, with 10 items: 1 000 borrowers take ~0.25 s and 10 000 ~4 s (quadratic: each
 * release walks the waiter set); one failed opening makes 10 000 borrowers take ~16 s, and five
 * do not finish in two minutes (a failed opening wakes every waiter, each retries and waits again).
 */
import { Duration, Effect, Pool } from "effect"

const borrowers = Number(process.argv[2] ?? 10_000)
const failFirst = Number(process.argv[3] ?? 0)
let openings = 0

const program = Effect.scoped(Effect.gen(function*() {
  const pool = yield* Pool.makeWithTTL({
    acquire: Effect.suspend(() => {
      const opening = ++openings
      return Effect.sleep(Duration.millis(20)).pipe(
        Effect.andThen(opening <= failFirst ? Effect.fail("refused") : Effect.succeed(opening))
      )
    }),
    min: 0,
    max: 10,
    concurrency: 1,
    timeToLive: Duration.seconds(60),
    timeToLiveStrategy: "usage"
  })
  const started = Date.now()
  let served = 0
  let failed = 0
  yield* Effect.forEach(
    Array.from({ length: borrowers }),
    () =>
      Effect.scoped(Effect.flatMap(Pool.get(pool), () => Effect.sleep(Duration.millis(1)))).pipe(
        Effect.match({ onSuccess: () => served++, onFailure: () => failed++ })
      ),
    { concurrency: "unbounded", discard: true }
  )
  console.log(JSON.stringify({ borrowers, failFirst, served, failed, openings, millis: Date.now() - started }))
}))

Effect.runPromise(program)
