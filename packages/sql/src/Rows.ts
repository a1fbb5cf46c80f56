/**
 * Decoders of the columns the stores read. Each throws a `TypeError` on a value of the wrong shape;
 * a store runs them inside `decode`, so a row that does not decode becomes a typed failure (and
 * then, through `StoreFailure.guard`, a `StoreError`), never a record with a wrong field.
 */
import { Ids } from "@gatehouse-auth/core"
import { Effect } from "effect"

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

export const sessionId = (value: unknown): Ids.SessionId => Ids.SessionId.make(text(value))

export const grantId = (value: unknown): Ids.GrantId => Ids.GrantId.make(text(value))

export const optionalSessionId = (value: unknown): Ids.SessionId | undefined =>
  value === null || value === undefined ? undefined : sessionId(value)

export const guestId = (value: unknown): Ids.GuestId => Ids.GuestId.make(text(value))
