/**
 * Guests (`gatehouse_guests`) in SQL. The cookie is never stored, only its keyed hash (see
 * `GuestSessionService`), in a UNIQUE column: one cookie can never name two guests.
 *
 * The one-winner steps are single statements: `insert` is `ON CONFLICT DO NOTHING RETURNING`
 * (the id and the cookie hash are both unique), `bindCookie` a conditional `UPDATE ... WHERE
 * cookie_hash IS NULL RETURNING`, `revoke` an `UPDATE ... WHERE revoked_at IS NULL RETURNING`.
 * Exactly one caller, in any process on the same database, sees its row come back.
 */
import { Errors, GuestStore, type Ids } from "@gatehouse-auth/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { decode, guestId, integer, optionalInteger, optionalText } from "./Rows.ts"
import * as SqliteClient from "./SqliteClient.ts"
import { guardFor } from "./StoreFailure.ts"

type Row = Record<string, unknown>

const columns = ["id", "cookie_hash", "created_at", "last_seen_at", "revoked_at", "migrated_at"] as const

const toRecord = (row: Row): GuestStore.GuestRecord => ({
  id: guestId(row.id),
  cookieHash: optionalText(row.cookie_hash),
  createdAt: integer(row.created_at),
  lastSeenAt: integer(row.last_seen_at),
  revokedAt: optionalInteger(row.revoked_at),
  migratedAt: optionalInteger(row.migrated_at)
})

const first = (rows: ReadonlyArray<Row>) =>
  decode(() => rows.length === 0 ? Option.none() : Option.some(toRecord(rows[0]!)))

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = yield* guardFor("guest")
  const direct = yield* Effect.serviceOption(SqliteClient.SqliteDirect)

  const insert = (record: GuestStore.GuestRecord) =>
    sql<Row>`INSERT INTO gatehouse_guests (id, cookie_hash, created_at, last_seen_at, revoked_at, migrated_at)
      VALUES (${record.id}, ${record.cookieHash ?? null}, ${record.createdAt}, ${record.lastSeenAt},
        ${record.revokedAt ?? null}, ${record.migratedAt ?? null})
      ON CONFLICT DO NOTHING RETURNING id`.pipe(Effect.map((rows) => rows.length === 1), fail("insert a guest"))

  const get = (id: Ids.GuestId) =>
    sql<Row>`SELECT * FROM gatehouse_guests WHERE id = ${id}`.pipe(Effect.flatMap(first), fail("read a guest"))

  // What every guest lookup runs. On SQLite it skips the statement machinery and remembers decoded
  // rows until the database changes (see `SqliteDirect.memoizedRow`), as the session lookup does.
  const findByCookieHash = Option.match(direct, {
    onNone: () => (cookieHash: string) =>
      sql<Row>`SELECT * FROM gatehouse_guests WHERE cookie_hash = ${cookieHash}`.pipe(
        Effect.flatMap(first),
        fail("read a guest")
      ),
    onSome: (direct) => {
      const read = direct.memoizedRow({
        sql: `SELECT ${columns.join(", ")} FROM gatehouse_guests WHERE cookie_hash = ?`,
        decode: (values) => toRecord(Object.fromEntries(columns.map((column, i) => [column, values[i]])))
      })
      return (cookieHash: string) =>
        Effect.mapBoth(read(cookieHash), {
          onFailure: (cause) => new Errors.StoreError({ store: "guest", operation: "read a guest", cause }),
          onSuccess: Option.fromNullishOr
        })
    }
  })

  const touch = (id: Ids.GuestId, at: number) =>
    sql`UPDATE gatehouse_guests SET last_seen_at = ${at} WHERE id = ${id} AND last_seen_at < ${at}`.pipe(
      Effect.asVoid,
      fail("update a guest")
    )

  const bindCookie = (id: Ids.GuestId, cookieHash: string, at: number) =>
    sql<Row>`UPDATE gatehouse_guests
      SET cookie_hash = ${cookieHash}, migrated_at = ${at},
        last_seen_at = CASE WHEN last_seen_at < ${at} THEN ${at} ELSE last_seen_at END
      WHERE id = ${id} AND cookie_hash IS NULL AND revoked_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM gatehouse_guests WHERE cookie_hash = ${cookieHash})
      RETURNING id`.pipe(Effect.map((rows) => rows.length === 1), fail("bind a guest"))

  const revoke = (id: Ids.GuestId, at: number) =>
    sql<Row>`UPDATE gatehouse_guests SET revoked_at = ${at} WHERE id = ${id} AND revoked_at IS NULL RETURNING id`.pipe(
      Effect.map((rows) => rows.length === 1),
      fail("revoke a guest")
    )

  const list = (limit: number) =>
    sql<Row>`SELECT * FROM gatehouse_guests ORDER BY created_at DESC, id DESC LIMIT ${Math.max(0, Math.floor(limit))}`
      .pipe(Effect.flatMap((rows) => decode(() => rows.map(toRecord))), fail("list guests"))

  const prune = (before: number) =>
    sql<Row>`DELETE FROM gatehouse_guests WHERE last_seen_at <= ${before} RETURNING id`.pipe(
      Effect.map((rows) => rows.length),
      fail("prune guests")
    )

  return GuestStore.GuestStore.of({ insert, get, findByCookieHash, touch, bindCookie, revoke, list, prune })
})

/** `GuestStore` over the `SqlClient` in context (migrations must have run: see `Database`). */
export const layer = (): Layer.Layer<GuestStore.GuestStore, never, SqlClient.SqlClient> =>
  Layer.effect(GuestStore.GuestStore, make)
