/**
 * A bounded gate for work that holds a scarce resource (a database connection): at most
 * `maxConcurrent` effects run at once, at most `maxQueued` wait for a turn, first come first
 * served, and none waits longer than `maxWait`. Anything beyond is refused at once with
 * `Overloaded`, which the HTTP layer answers `503 service_unavailable` with `Retry-After`.
 *
 * Why not `Semaphore` or the pool's own queue: under a burst the waiters are the cost. effect's
 * `Pool` walks its waiter set on every release and wakes every waiter after a failed acquisition,
 * so 10 000 requests queued on a 10-connection pool cost O(n^2) fiber wake-ups, and one failed
 * connect during the burst kept the process busy for minutes (docs/decisions.md, "Bounded store
 * work"). Here a turn is handed from the finishing effect straight to the first waiter in O(1),
 * a refusal costs nothing, and the pool never sees more borrowers than it has connections.
 */
import { Duration, Effect, Schema } from "effect"
import * as Durations from "./Durations.ts"
import { InvalidRequest } from "./Errors.ts"

/** The gate was full (or a turn did not come within `maxWait`): try again after `retryAfterSeconds`. */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  gate: Schema.String,
  retryAfterSeconds: Schema.Number
}) {
  override get message(): string {
    return `Too much ${this.gate} work at once; try again in ${this.retryAfterSeconds} s`
  }
}

export interface Options {
  /** Names the gate in `Overloaded` (and in logs): "database", "pairing". */
  readonly name: string
  readonly maxConcurrent: number
  /** Waiters beyond the running ones; `0` refuses whatever cannot run at once. */
  readonly maxQueued: number
  /** The longest a waiter waits for its turn (default 2 seconds). */
  readonly maxWait?: Duration.Input | undefined
  /** `Retry-After` of a refusal, in whole seconds (default 1). */
  readonly retryAfterSeconds?: number | undefined
}

export interface Admission {
  readonly name: string
  /** Runs `effect` when a turn is free; `Overloaded` when the gate is full or the wait is too long. */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Overloaded, R>
  /** Effects running now (at most `maxConcurrent`). */
  readonly running: () => number
  /** Effects waiting now (at most `maxQueued`). */
  readonly queued: () => number
}

/** One waiter in the FIFO: a doubly linked list, so a waiter that gives up leaves in O(1). */
interface Waiter {
  /**
   * `queued`, then `handed` (a finishing effect gave it the turn) and `resumed` (the turn is its
   * own), or `left` (interrupted or timed out first).
   */
  state: "queued" | "handed" | "resumed" | "left"
  resume: () => void
  previous: Waiter | undefined
  next: Waiter | undefined
}

const positiveWhole = (value: number, atLeast: number) => Number.isInteger(value) && value >= atLeast

export const make = Effect.fnUntraced(function*(options: Options) {
  const maxWait = yield* Durations.toMillis(`${options.name} maxWait`, options.maxWait, Duration.seconds(2))
  const retryAfterSeconds = options.retryAfterSeconds ?? 1
  if (
    !positiveWhole(options.maxConcurrent, 1) || !positiveWhole(options.maxQueued, 0) ||
    !positiveWhole(retryAfterSeconds, 1)
  ) {
    return yield* new InvalidRequest({
      message: `${options.name}: maxConcurrent and retryAfterSeconds must be whole numbers >= 1, maxQueued >= 0`
    })
  }
  const { maxConcurrent, maxQueued, name } = options
  const overloaded = new Overloaded({ gate: name, retryAfterSeconds })

  let running = 0
  let queued = 0
  let head: Waiter | undefined
  let tail: Waiter | undefined

  const unlink = (waiter: Waiter) => {
    if (waiter.previous === undefined) head = waiter.next
    else waiter.previous.next = waiter.next
    if (waiter.next === undefined) tail = waiter.previous
    else waiter.next.previous = waiter.previous
    waiter.previous = waiter.next = undefined
    queued--
  }

  /** A finished effect hands its turn to the first waiter; `running` only drops when none waits. */
  const handOn = () => {
    const first = head
    if (first === undefined) {
      running--
      return
    }
    unlink(first)
    first.state = "handed"
    // Resumed from a microtask, as a promise resumes a fiber: never on the stack of the fiber
    // giving the turn up (which may be in the middle of its own interruption).
    queueMicrotask(first.resume)
  }
  const handOnNow = Effect.sync(handOn)

  /** Queues `waiter` and waits for its turn. Interrupted before resuming, it leaves or passes it on. */
  const waitForTurn = (waiter: Waiter) =>
    Effect.callback<void>((resume) => {
      waiter.resume = () => {
        if (waiter.state !== "handed") return
        waiter.state = "resumed"
        resume(Effect.void)
      }
      waiter.previous = tail
      if (tail === undefined) head = waiter
      else tail.next = waiter
      tail = waiter
      queued++
      return Effect.sync(() => {
        const state = waiter.state
        if (state === "resumed") return
        waiter.state = "left"
        if (state === "queued") unlink(waiter)
        else if (state === "handed") handOn()
      })
    })

  const acquire: Effect.Effect<void, Overloaded> = Effect.suspend(() => {
    if (running < maxConcurrent && queued === 0) {
      running++
      return Effect.void
    }
    if (queued >= maxQueued) return Effect.fail(overloaded)
    const waiter: Waiter = { state: "queued", resume: () => {}, previous: undefined, next: undefined }
    // The whole timed wait is interruptible (even where the caller is not), so a client that hangs
    // up stops waiting at once. A turn that arrives anyway, in the instant between the resumption
    // and the end of the wait (a timeout or an interruption winning that race), is passed on.
    return Effect.interruptible(
      Effect.timeoutOrElse(waitForTurn(waiter), {
        duration: Duration.millis(maxWait),
        orElse: () => Effect.fail(overloaded)
      })
    ).pipe(
      Effect.onExit((exit) => exit._tag === "Failure" && waiter.state === "resumed" ? handOnNow : Effect.void)
    )
  })

  // The turn is taken and handed back in one uninterruptible step each, so an interruption at
  // any moment (a client that hangs up) neither loses a turn nor runs `effect` without one.
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Overloaded, R> =>
    Effect.uninterruptibleMask((restore) => Effect.flatMap(acquire, () => Effect.ensuring(restore(effect), handOnNow)))

  const admission: Admission = {
    name,
    run,
    running: () => running,
    queued: () => queued
  }
  return admission
})
