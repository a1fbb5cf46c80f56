/**
 * The DPoP replay store in SQL (`gatehouse_dpop_replay`), shared by every instance on the
 * database, so a proof used on one instance is refused on every other.
 *
 * - A pair (`jkt`, `jti`) is kept only as the SHA-256 of both (length-prefixed, so no two pairs
 *   share a key): a fixed-size primary key whatever text the client chose for `jti`.
 * - `record` is one statement, `INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at <= now
 *   RETURNING`: a row comes back to exactly one caller, in any process, while the entry is live; an
 *   expired row is taken over by the next record of its pair (that proof is stale by then anyway).
 *   On PostgreSQL the unique index makes a concurrent insert wait for the first and then see its row.
 * - On SQLite the insert does not wait for an fsync (`SqliteDirect.relaxedWriteRow`): it survives a
 *   crash of the process, not a power loss before the next durable commit. A proof id is worthless
 *   a minute after its `iat`, sooner than a machine comes back, and an fsync per bound request
 *   cost more than the rest of the request (measured in `npm run bench`, `dpopRoute`).
 * - Rows past their expiry are deleted opportunistically, at most once per `sweepInterval`, by the
 *   record that finds the interval passed.
 *
 * Any failure is a `StoreError` (the HTTP layer answers 503): a proof is never accepted unrecorded.
 */
import { DpopReplayStore, Durations, Hashing } from "@gatehouse-auth/core"
import { Duration, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import * as SqliteClient from "./SqliteClient.ts"
import { guardFor } from "./StoreFailure.ts"

export interface Options {
  /** How often rows past their expiry are deleted (default 1 minute). */
  readonly sweepInterval?: Duration.Input | undefined
}

/** The stored key of a pair: SHA-256 of the length-prefixed thumbprint and the `jti`, base64url. */
export const pairKey = (jkt: string, jti: string): string => Hashing.sha256Base64Url(`${jkt.length}:${jkt}${jti}`)

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const sql = yield* SqlClient.SqlClient
  const fail = yield* guardFor("DPoP replay")
  const sweepEvery = yield* Durations.toMillis("dpop sweepInterval", options.sweepInterval, Duration.minutes(1))
  let nextSweep = 0

  const sweep = (now: number) =>
    Effect.suspend(() => {
      if (now < nextSweep) return Effect.void
      nextSweep = now + sweepEvery
      return Effect.asVoid(sql`DELETE FROM gatehouse_dpop_replay WHERE expires_at <= ${now}`)
    })

  // On SQLite the insert skips the fsync (see `SqliteDirect.relaxedWriteRow`): a proof id is
  // worthless a minute after its `iat`, and an fsync per bound request would cost more than the rest
  // of the request. PostgreSQL commits as it is configured.
  const direct = yield* Effect.serviceOption(SqliteClient.SqliteDirect)
  const recordRelaxed = Option.map(
    direct,
    (direct) =>
      direct.relaxedWriteRow(`INSERT INTO gatehouse_dpop_replay (key_hash, expires_at) VALUES (?, ?)
      ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at
      WHERE gatehouse_dpop_replay.expires_at <= ? RETURNING key_hash`)
  )

  const insert = (key: string, expiresAt: number, now: number) =>
    Option.isSome(recordRelaxed)
      ? Effect.map(recordRelaxed.value([key, expiresAt, now]), (row) => row !== undefined)
      : Effect.map(
        sql<{ readonly key_hash: unknown }>`INSERT INTO gatehouse_dpop_replay (key_hash, expires_at)
          VALUES (${key}, ${expiresAt})
          ON CONFLICT (key_hash) DO UPDATE SET expires_at = excluded.expires_at
          WHERE gatehouse_dpop_replay.expires_at <= ${now}
          RETURNING key_hash`,
        (rows) => rows.length === 1
      )

  const record = (jkt: string, jti: string, expiresAt: number, now: number) =>
    Effect.andThen(sweep(now), insert(pairKey(jkt, jti), expiresAt, now)).pipe(fail("record a proof"))

  return DpopReplayStore.DpopReplayStore.of({ record })
})

/** `DpopReplayStore` over the `SqlClient` in context (migrations must have run: see `Database`). */
export const layer = (
  options: Options = {}
): Layer.Layer<DpopReplayStore.DpopReplayStore, Durations.InvalidDuration, SqlClient.SqlClient> =>
  Layer.effect(DpopReplayStore.DpopReplayStore, make(options))
