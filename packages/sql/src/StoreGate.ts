/**
 * The bound on store work over a connection pool (PostgreSQL): at most `maxConnections` store
 * operations run at once, a short queue waits behind them for at most `acquireTimeout`, and each
 * operation, waiting included, ends within `acquireTimeout + statementTimeout`. Beyond the
 * queue, or past either deadline, the operation fails with `StoreError` at once and the HTTP
 * layer answers `503 service_unavailable` with `Retry-After`.
 *
 * The pool itself is never asked to queue a burst: effect's `Pool` does O(waiters) work on every
 * release and after every failed connection attempt, so thousands of waiters on ten connections
 * turn one failed connect into minutes of busy event loop (docs/decisions.md, "Bounded store
 * work"). With this gate in front it never has more borrowers than connections.
 */
import { Admission, Durations } from "@gatehouse-auth/core"
import { Context, Duration, Effect, Layer } from "effect"

export interface StoreGateShape {
  readonly admission: Admission.Admission
  /** The longest one statement may run (PostgreSQL's `statement_timeout`). */
  readonly statementTimeout: Duration.Duration
  /** The longest one store operation may take, its wait for a connection included. */
  readonly operationTimeout: Duration.Duration
}

export class StoreGate extends Context.Service<StoreGate, StoreGateShape>()("@gatehouse-auth/sql/StoreGate") {}

export interface Options {
  /** Operations running at once: the pool's size. */
  readonly maxConcurrent: number
  /** Operations waiting for a connection (default 256); more fail at once. */
  readonly maxQueued?: number | undefined
  /** Longest wait for a connection (default 2 seconds). */
  readonly acquireTimeout?: Duration.Input | undefined
  /** Longest a statement may run once it has a connection (default 5 seconds). */
  readonly statementTimeout?: Duration.Input | undefined
}

export const defaultMaxQueued = 256
export const defaultAcquireTimeout = Duration.seconds(2)
export const defaultStatementTimeout = Duration.seconds(5)

export const make = Effect.fnUntraced(function*(options: Options) {
  const acquire = yield* Durations.toMillis("acquireTimeout", options.acquireTimeout, defaultAcquireTimeout)
  const statement = yield* Durations.toMillis(
    "statementTimeout",
    options.statementTimeout,
    defaultStatementTimeout
  )
  const admission = yield* Admission.make({
    name: "database",
    maxConcurrent: options.maxConcurrent,
    maxQueued: options.maxQueued ?? defaultMaxQueued,
    maxWait: Duration.millis(acquire)
  })
  return StoreGate.of({
    admission,
    statementTimeout: Duration.millis(statement),
    operationTimeout: Duration.millis(acquire + statement)
  })
})

export const layer = (options: Options) => Layer.effect(StoreGate, make(options))
