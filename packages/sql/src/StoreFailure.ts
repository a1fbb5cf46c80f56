/**
 * Every store operation fails with the core's `StoreError` and nothing else: a SQL error, a
 * connection lost mid-query or a row that does not decode all become `StoreError`, so the HTTP
 * layer answers 503 and an outage can never pass for a success or crash a fiber.
 */
import { Errors } from "@gatehouse/core"
import { Effect } from "effect"

export const guard =
  (store: string, operation: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Errors.StoreError, R> =>
    effect.pipe(
      Effect.catchDefect((cause) => Effect.fail(cause)),
      Effect.mapError((cause) => new Errors.StoreError({ store, operation, cause }))
    )

/** A BIGINT column: PostgreSQL drivers may hand back a string or a bigint. */
export const integer = (value: unknown): number => {
  const number = typeof value === "number" ? value : Number(value)
  if (!Number.isSafeInteger(number)) throw new TypeError(`expected an integer, got ${typeof value}`)
  return number
}

export const optionalInteger = (value: unknown): number | undefined =>
  value === null || value === undefined ? undefined : integer(value)

export const optionalText = (value: unknown): string | undefined =>
  value === null || value === undefined ? undefined : text(value)

export const text = (value: unknown): string => {
  if (typeof value !== "string") throw new TypeError(`expected text, got ${typeof value}`)
  return value
}

export const stringArray = (value: unknown): ReadonlyArray<string> => {
  const parsed: unknown = JSON.parse(text(value))
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
    throw new TypeError("expected a JSON array of strings")
  }
  return parsed
}

/** Runs a row decoder; a row that does not decode is a typed failure (then a `StoreError`). */
export const decode = <A>(f: () => A) => Effect.try({ try: f, catch: (cause) => cause })
