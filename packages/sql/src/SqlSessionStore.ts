/**
 * Session records (`gatehouse_sessions`) and used WebSocket ticket ids (`gatehouse_ws_tickets`) in
 * SQL. No token is stored: a session token is signed, and its record only says the session still
 * exists and when it was last seen. Revoking deletes the record, so every instance and process on
 * the same database rejects the session on its next lookup.
 *
 * A ticket id is recorded with a primary-key insert (`ON CONFLICT DO NOTHING RETURNING`): exactly
 * one caller, in any process, sees the row come back.
 */
import { Durations, Errors, type Ids, SessionStore } from "@gatehouse-auth/core"
import { Duration, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { decode, integer, optionalText, sessionId, stringArray, text } from "./Rows.ts"
import * as SqliteClient from "./SqliteClient.ts"
import { guardFor } from "./StoreFailure.ts"

type Row = Record<string, unknown>

/** The stored transport; a value this version does not know reads as `cookie` (the shorter lifetimes). */
const transport = (value: unknown): SessionStore.Transport => value === "bearer" ? "bearer" : "cookie"

const clientFields = [
  ["label", "client_label"],
  ["deviceType", "client_device_type"],
  ["os", "client_os"],
  ["browser", "client_browser"],
  ["ip", "client_ip"]
] as const

const toRecord = (row: Row): SessionStore.SessionRecord => {
  const client: Record<string, string> = {}
  for (const [field, column] of clientFields) {
    const value = optionalText(row[column])
    if (value !== undefined) client[field] = value
  }
  return {
    sid: sessionId(row.sid),
    subject: text(row.subject),
    scopes: stringArray(row.scopes),
    method: text(row.method),
    transport: transport(row.transport),
    createdAt: integer(row.created_at),
    lastSeenAt: integer(row.last_seen_at),
    client,
    ...(optionalText(row.jkt) === undefined ? {} : { jkt: optionalText(row.jkt) })
  }
}

const toRecords = (rows: ReadonlyArray<Row>) => decode(() => rows.map(toRecord))

/** The columns in a fixed order, for reads that return a row as an array. */
const columns = [
  "sid",
  "subject",
  "scopes",
  "method",
  "transport",
  "created_at",
  "last_seen_at",
  "jkt",
  ...clientFields.map(([, column]) => column)
] as const

const fromArray = (values: ReadonlyArray<unknown>): Row =>
  Object.fromEntries(columns.map((column, i) => [column, values[i]]))

const ids = (rows: ReadonlyArray<Row>) => decode(() => rows.map((row) => sessionId(row.sid)))

export interface Options {
  /** How often used ticket ids past their expiry are deleted (default 1 minute). */
  readonly ticketSweepInterval?: Duration.Input | undefined
  /**
   * SQLite only: remember decoded session rows until the database changes (default true; see
   * `SqliteDirect.memoizedRow`). `false` reads the file on every lookup.
   */
  readonly rememberReads?: boolean | undefined
}

/** Ids per `getMany` query (SQLite allows 32766 parameters, PostgreSQL 65535). */
const getManyChunk = 500

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export const make = Effect.fnUntraced(function*(options: Options = {}) {
  const sql = yield* SqlClient.SqlClient
  const fail = yield* guardFor("session")
  const sweepEvery = yield* Durations.toMillis("ticketSweepInterval", options.ticketSweepInterval, Duration.minutes(1))
  let nextTicketSweep = 0

  const insert = (record: SessionStore.SessionRecord) => {
    const c = record.client
    return sql`INSERT INTO gatehouse_sessions (
        sid, subject, scopes, method, transport, created_at, last_seen_at, jkt,
        client_label, client_device_type, client_os, client_browser, client_ip
      ) VALUES (
        ${record.sid}, ${record.subject}, ${JSON.stringify(record.scopes)}, ${record.method}, ${record.transport},
        ${record.createdAt}, ${record.lastSeenAt}, ${record.jkt ?? null}, ${c.label ?? null}, ${c.deviceType ?? null},
        ${c.os ?? null}, ${c.browser ?? null}, ${c.ip ?? null}
      )
      ON CONFLICT (sid) DO UPDATE SET
        subject = excluded.subject, scopes = excluded.scopes, method = excluded.method,
        transport = excluded.transport, jkt = excluded.jkt,
        created_at = excluded.created_at, last_seen_at = excluded.last_seen_at,
        client_label = excluded.client_label, client_device_type = excluded.client_device_type,
        client_os = excluded.client_os, client_browser = excluded.client_browser, client_ip = excluded.client_ip`
      .pipe(Effect.asVoid, fail("insert a session"))
  }

  // The hot path of every authenticated request: one primary-key lookup. On SQLite it skips the
  // statement machinery and remembers decoded rows until the database changes (see `SqliteDirect`).
  const direct = yield* Effect.serviceOption(SqliteClient.SqliteDirect)
  const failRead = fail("read a session")
  const get = Option.match(direct, {
    onNone: () => (sid: Ids.SessionId) =>
      sql<Row>`SELECT * FROM gatehouse_sessions WHERE sid = ${sid}`.pipe(
        Effect.flatMap(toRecords),
        Effect.map((records) => Option.fromNullishOr(records[0])),
        failRead
      ),
    onSome: (direct) => {
      const query = `SELECT ${columns.join(", ")} FROM gatehouse_sessions WHERE sid = ?`
      const decodeRow = (row: ReadonlyArray<unknown>) => toRecord(fromArray(row))
      if (options.rememberReads === false) {
        const read = direct.getRow(query)
        return (sid: Ids.SessionId) =>
          read([sid]).pipe(
            Effect.flatMap((row) => decode(() => row === undefined ? Option.none() : Option.some(decodeRow(row)))),
            failRead
          )
      }
      const read = direct.memoizedRow({
        sql: query,
        decode: (row) => Option.some(decodeRow(row))
      })
      const toStoreError = (cause: unknown) =>
        new Errors.StoreError({ store: "session", operation: "read a session", cause })
      // The direct read cannot throw past its own error channel: one mapError is all it needs.
      return (sid: Ids.SessionId) =>
        Effect.mapBoth(read(sid), { onFailure: toStoreError, onSuccess: (found) => found ?? Option.none() })
    }
  })

  /** One `IN (...)` query per chunk: bounded statement size and parameter count on both engines. */
  const getMany = (sids: ReadonlyArray<Ids.SessionId>) =>
    Effect.map(
      Effect.forEach(chunks([...new Set(sids)], getManyChunk), (chunk) =>
        sql<Row>`SELECT * FROM gatehouse_sessions WHERE ${sql.in("sid", chunk)}`.pipe(Effect.flatMap(toRecords))),
      (batches) =>
        batches.flat()
    ).pipe(fail("read sessions"))

  const touch = (sid: Ids.SessionId, at: number) =>
    sql`UPDATE gatehouse_sessions SET last_seen_at = ${at} WHERE sid = ${sid} AND last_seen_at < ${at}`.pipe(
      Effect.asVoid,
      fail("update a session")
    )

  const remove = (sid: Ids.SessionId) =>
    sql<Row>`DELETE FROM gatehouse_sessions WHERE sid = ${sid} RETURNING sid`.pipe(
      Effect.map((rows) => rows.length > 0),
      fail("remove a session")
    )

  const removeAllExcept = (sid: Ids.SessionId) =>
    sql<Row>`DELETE FROM gatehouse_sessions WHERE sid <> ${sid} RETURNING sid`.pipe(
      Effect.flatMap(ids),
      fail("remove sessions")
    )

  const list = sql<Row>`SELECT * FROM gatehouse_sessions ORDER BY created_at, sid`.pipe(
    Effect.flatMap(toRecords),
    fail("list sessions")
  )

  const sweepTickets = (now: number) =>
    Effect.suspend(() => {
      if (now < nextTicketSweep) return Effect.void
      nextTicketSweep = now + sweepEvery
      return Effect.asVoid(sql`DELETE FROM gatehouse_ws_tickets WHERE expires_at <= ${now}`)
    })

  const consumeTicket = (jti: string, expiresAt: number, now: number) =>
    Effect.andThen(
      sweepTickets(now),
      sql<Row>`INSERT INTO gatehouse_ws_tickets (jti, expires_at) VALUES (${jti}, ${expiresAt})
        ON CONFLICT (jti) DO NOTHING RETURNING jti`
    ).pipe(
      Effect.map((rows) => rows.length === 1),
      fail("record a ticket")
    )

  return SessionStore.SessionStore.of({ insert, get, getMany, touch, remove, removeAllExcept, list, consumeTicket })
})

/** `SessionStore` over the `SqlClient` in context (migrations must have run: see `Database`). */
export const layer = (
  options: Options = {}
): Layer.Layer<SessionStore.SessionStore, Durations.InvalidDuration, SqlClient.SqlClient> =>
  Layer.effect(SessionStore.SessionStore, make(options))
