import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Admission from "../src/Admission.ts"

const gate = (maxConcurrent: number, maxQueued: number, maxWait: Duration.Input = "2 seconds") =>
  Admission.make({ name: "test", maxConcurrent, maxQueued, maxWait })

/** Lets every forked fiber run until it suspends. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("Admission", () => {
  it.effect("runs at most maxConcurrent at once and refuses beyond the queue at once", () =>
    Effect.gen(function*() {
      const admission = yield* gate(2, 3)
      const release = yield* Deferred.make<void>()
      let peak = 0
      const held = admission.run(Effect.gen(function*() {
        peak = Math.max(peak, admission.running())
        yield* Deferred.await(release)
        return "ran" as const
      }))
      const fibers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.forkChild(held))
      yield* settle
      assert.strictEqual(admission.running(), 2)
      assert.strictEqual(admission.queued(), 3)
      // The sixth finds the queue full: refused without waiting, with the Retry-After it names.
      const refused = yield* Effect.flip(held)
      assert.strictEqual(refused._tag, "Overloaded")
      assert.strictEqual(refused.retryAfterSeconds, 1)

      yield* Deferred.succeed(release, undefined)
      const results = yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(results, ["ran", "ran", "ran", "ran", "ran"])
      assert.strictEqual(peak, 2)
      assert.strictEqual(admission.running(), 0)
      assert.strictEqual(admission.queued(), 0)
    }))

  it.effect("serves waiters first come, first served", () =>
    Effect.gen(function*() {
      const admission = yield* gate(1, 10)
      const order: Array<number> = []
      const first = yield* Deferred.make<void>()
      const holder = yield* Effect.forkChild(admission.run(Deferred.await(first)))
      yield* settle
      const waiters: Array<Fiber.Fiber<void, Admission.Overloaded>> = []
      for (let i = 0; i < 5; i++) {
        waiters.push(yield* Effect.forkChild(admission.run(Effect.sync(() => void order.push(i)))))
        yield* settle
      }
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(holder)
      yield* Effect.forEach(waiters, Fiber.join)
      assert.deepStrictEqual(order, [0, 1, 2, 3, 4])
    }))

  it.effect("a waiter gives up after maxWait (TestClock) and leaves the queue", () =>
    Effect.gen(function*() {
      const admission = yield* gate(1, 5, "500 millis")
      const never = yield* Deferred.make<void>()
      yield* Effect.forkChild(admission.run(Deferred.await(never)))
      yield* settle
      const waiter = yield* Effect.forkChild(admission.run(Effect.void))
      yield* settle
      assert.strictEqual(admission.queued(), 1)
      yield* TestClock.adjust("499 millis")
      assert.isUndefined(waiter.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(waiter)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(admission.queued(), 0)
      assert.strictEqual(admission.running(), 1)
    }))

  it.effect("an interrupted waiter or runner loses no turn", () =>
    Effect.gen(function*() {
      const admission = yield* gate(1, 5)
      const never = yield* Deferred.make<void>()
      const runner = yield* Effect.forkChild(admission.run(Deferred.await(never)))
      yield* settle
      const waiter = yield* Effect.forkChild(admission.run(Effect.void))
      const next = yield* Effect.forkChild(admission.run(Effect.succeed("next")))
      yield* settle
      yield* Fiber.interrupt(waiter)
      assert.strictEqual(admission.queued(), 1)
      yield* Fiber.interrupt(runner)
      assert.strictEqual(yield* Fiber.join(next), "next")
      assert.strictEqual(admission.running(), 0)
      assert.strictEqual(admission.queued(), 0)
    }))

  it.effect("a failing or dying effect gives its turn back", () =>
    Effect.gen(function*() {
      const admission = yield* gate(1, 0)
      const failed = yield* Effect.flip(admission.run(Effect.fail("no" as const)))
      assert.strictEqual(failed, "no")
      const died = yield* Effect.exit(admission.run(Effect.die("boom")))
      assert.isTrue(Exit.isFailure(died))
      assert.strictEqual(yield* admission.run(Effect.succeed(1)), 1)
      assert.strictEqual(admission.running(), 0)
    }))

  it.effect("refuses settings that are not whole numbers", () =>
    Effect.gen(function*() {
      for (const [maxConcurrent, maxQueued] of [[0, 1], [1.5, 1], [1, -1], [1, Number.NaN]] as const) {
        const error = yield* Effect.flip(gate(maxConcurrent, maxQueued))
        assert.strictEqual(error._tag, "InvalidRequest")
      }
    }))

  // Real concurrency: many fibers that hold their turn across real event-loop turns, some
  // interrupted at random moments. Every task first arrives and holds its turn until all have
  // arrived, so exactly what fits the gate is admitted however slow the machine is; then the
  // turns end in random order under interruptions. The bound holds throughout, and what was not
  // refused ran.
  it.live("holds its bound under random arrivals, hold times and interruptions", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 0, max: 20 }),
          fc.array(fc.record({ holdMillis: fc.integer({ min: 0, max: 3 }), interrupt: fc.boolean() }), {
            minLength: 1,
            maxLength: 60
          }),
          (maxConcurrent, maxQueued, tasks) =>
            Effect.runPromise(Effect.gen(function*() {
              const admission = yield* gate(maxConcurrent, maxQueued, "5 seconds")
              const allArrived = yield* Deferred.make<void>()
              let inside = 0
              let peak = 0
              let ran = 0
              let refused = 0
              const fibers = yield* Effect.forEach(tasks, (task) =>
                Effect.forkChild(
                  admission.run(Effect.gen(function*() {
                    inside++
                    peak = Math.max(peak, inside)
                    yield* Deferred.await(allArrived).pipe(
                      Effect.andThen(Effect.sleep(Duration.millis(task.holdMillis))),
                      Effect.ensuring(Effect.sync(() => inside--))
                    )
                    ran++
                  })).pipe(Effect.tapError(() => Effect.sync(() => refused++)))
                ))
              // Bounded wait (about 5 s) until every task is running, queued or refused.
              for (
                let i = 0;
                i < 5000 && admission.running() + admission.queued() + refused < tasks.length;
                i++
              ) {
                yield* Effect.sleep(Duration.millis(1))
              }
              if (refused !== Math.max(0, tasks.length - maxConcurrent - maxQueued)) {
                throw new Error(`refused ${refused} of ${tasks.length}`)
              }
              yield* Deferred.succeed(allArrived, undefined)
              yield* Effect.forEach(
                fibers.filter((_, index) => tasks[index]!.interrupt),
                (fiber) => Effect.andThen(Effect.sleep(Duration.millis(1)), Fiber.interrupt(fiber)),
                { concurrency: "unbounded" }
              )
              const exits = yield* Effect.forEach(fibers, Fiber.await)
              const failed = exits.filter((exit) =>
                Exit.isFailure(exit) && exit.cause.reasons.some((reason) => reason._tag === "Fail")
              ).length
              const succeeded = exits.filter(Exit.isSuccess).length
              if (peak > maxConcurrent) {
                throw new Error(`peak ${peak} > ${maxConcurrent}`)
              }
              if (succeeded !== ran) {
                throw new Error(`succeeded ${succeeded} != ran ${ran}`)
              }
              // Queued waiters wait 5 s at most; none of these should time out.
              if (failed !== refused) {
                throw new Error(`failed ${failed} != refused ${refused}`)
              }
              if (admission.running() !== 0 || admission.queued() !== 0) {
                throw new Error("a turn was lost")
              }
            }))
        ),
        { numRuns: 40 }
      )
    ))
})
