/**
 * Every store operation fails with the core's `StoreError` and nothing else: a SQL error, a
 * connection lost mid-query or a row that does not decode all become `StoreError`, so the HTTP
 * layer answers 503 and an outage can never pass for a success or crash a fiber.
 */
import { Errors } from "@gatehouse-auth/core"
import { Effect } from "effect"

export const guard =
  (store: string, operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Errors.StoreError, R> =>
    effect.pipe(
      Effect.catchDefect((cause) => Effect.fail(cause)),
      Effect.mapError((cause) => new Errors.StoreError({ store, operation, cause }))
    )
