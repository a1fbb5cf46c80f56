/**
 * Every store operation fails with the core's `StoreError` and nothing else: a SQL error, a
 * connection lost mid-query, a row that does not decode, a full `StoreGate` or an operation past
 * its deadline all become `StoreError`, so the HTTP layer answers 503 and an outage can never
 * pass for a success, crash a fiber or hang a request.
 */
import { Errors } from "@gatehouse-auth/core"
import { Effect, Option } from "effect"
import { StoreGate } from "./StoreGate.ts"

export const guard =
  (store: string, operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Errors.StoreError, R> =>
    effect.pipe(
      Effect.catchDefect((cause) => Effect.fail(cause)),
      Effect.mapError((cause) => new Errors.StoreError({ store, operation, cause }))
    )

/**
 * `guard` for one store, bounded by the `StoreGate` in context when there is one (PostgreSQL):
 * each operation takes a turn, and fails once it has taken longer than the gate allows.
 */
export const guardFor = Effect.fnUntraced(function*(store: string) {
  const gate = yield* Effect.serviceOption(StoreGate)
  if (Option.isNone(gate)) return (operation: string) => guard(store, operation)
  const { admission, operationTimeout } = gate.value
  return (operation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Errors.StoreError, R> =>
    guard(store, operation)(Effect.timeout(admission.run(effect), operationTimeout))
})
