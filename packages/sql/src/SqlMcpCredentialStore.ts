/**
 * MCP credentials (`gatehouse_mcp_credentials`) in SQL, shared by every instance on the database.
 * The token is never stored, only its SHA-256 (`token_hash`, UNIQUE).
 *
 * - `insertReplacingThread` is one upsert on the UNIQUE `thread_id`: the thread's earlier
 *   credential is replaced in the same statement, so two instances issuing for one thread at once
 *   leave exactly one credential.
 * - `touch` only moves `last_used_at` and `expires_at` forward (a conditional `UPDATE`), so
 *   instances writing in any order never move a deadline back.
 * - `findByHash`, the per-request read, skips the statement machinery on SQLite and remembers the
 *   decoded row until the database changes (`SqliteDirect.memoizedRow`, checked before every read,
 *   so a revoke by another process is seen by the next request).
 */
import { Errors, type Ids, McpCredentialStore } from "@gatehouse-auth/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { decode, integer, optionalSessionId, stringArray, text } from "./Rows.ts"
import * as SqliteClient from "./SqliteClient.ts"
import { guardFor } from "./StoreFailure.ts"

type Row = Record<string, unknown>
type Record_ = McpCredentialStore.McpCredentialRecord

const columns = [
  "id",
  "token_hash",
  "thread_id",
  "provider_instance_id",
  "capabilities",
  "session_id",
  "created_at",
  "absolute_expires_at",
  "last_used_at",
  "expires_at"
] as const

const toRecord = (row: Row): Record_ => ({
  id: text(row.id) as Ids.McpCredentialId,
  tokenHash: text(row.token_hash),
  threadId: text(row.thread_id),
  providerInstanceId: text(row.provider_instance_id),
  capabilities: Object.freeze([...stringArray(row.capabilities)]),
  sessionId: optionalSessionId(row.session_id),
  createdAt: integer(row.created_at),
  absoluteExpiresAt: integer(row.absolute_expires_at),
  lastUsedAt: integer(row.last_used_at),
  expiresAt: integer(row.expires_at)
})

/** Session ids per `DELETE ... IN (...)` (bounded statements on both engines). */
const chunkSize = 500

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = yield* guardFor("mcp-credential")
  const direct = yield* Effect.serviceOption(SqliteClient.SqliteDirect)

  const count = (rows: ReadonlyArray<Row>) => rows.length

  const insertReplacingThread = (record: Record_) =>
    sql`INSERT INTO gatehouse_mcp_credentials (id, token_hash, thread_id, provider_instance_id, capabilities,
        session_id, created_at, absolute_expires_at, last_used_at, expires_at)
      VALUES (${record.id}, ${record.tokenHash}, ${record.threadId}, ${record.providerInstanceId},
        ${JSON.stringify(record.capabilities)}, ${record.sessionId ?? null}, ${record.createdAt},
        ${record.absoluteExpiresAt}, ${record.lastUsedAt}, ${record.expiresAt})
      ON CONFLICT (thread_id) DO UPDATE SET
        id = excluded.id, token_hash = excluded.token_hash, provider_instance_id = excluded.provider_instance_id,
        capabilities = excluded.capabilities, session_id = excluded.session_id, created_at = excluded.created_at,
        absolute_expires_at = excluded.absolute_expires_at, last_used_at = excluded.last_used_at,
        expires_at = excluded.expires_at`.pipe(Effect.asVoid, fail("insert an MCP credential"))

  const findByHash = Option.match(direct, {
    onNone: () => (tokenHash: string) =>
      sql<Row>`SELECT * FROM gatehouse_mcp_credentials WHERE token_hash = ${tokenHash}`.pipe(
        Effect.flatMap((rows) => decode(() => rows.length === 0 ? Option.none() : Option.some(toRecord(rows[0]!)))),
        fail("read an MCP credential")
      ),
    onSome: (direct) => {
      const read = direct.memoizedRow({
        // Agents call often and each presents one credential: remember up to 200 000 of them (about
        // 300 bytes each), forgotten whenever the database changes.
        capacity: 200_000,
        sql: `SELECT ${columns.join(", ")} FROM gatehouse_mcp_credentials WHERE token_hash = ?`,
        decode: (values) => toRecord(Object.fromEntries(columns.map((column, i) => [column, values[i]])))
      })
      return (tokenHash: string) =>
        Effect.mapBoth(read(tokenHash), {
          onFailure: (cause) =>
            new Errors.StoreError({ store: "mcp-credential", operation: "read an MCP credential", cause }),
          onSuccess: Option.fromNullishOr
        })
    }
  })

  const touch = (tokenHash: string, lastUsedAt: number, expiresAt: number) =>
    sql`UPDATE gatehouse_mcp_credentials SET
        last_used_at = CASE WHEN last_used_at < ${lastUsedAt} THEN ${lastUsedAt} ELSE last_used_at END,
        expires_at = CASE WHEN expires_at < ${expiresAt} THEN ${expiresAt} ELSE expires_at END
      WHERE token_hash = ${tokenHash} AND (last_used_at < ${lastUsedAt} OR expires_at < ${expiresAt})`.pipe(
      Effect.asVoid,
      fail("update an MCP credential")
    )

  const removeById = (id: Ids.McpCredentialId) =>
    sql<Row>`DELETE FROM gatehouse_mcp_credentials WHERE id = ${id} RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      fail("revoke an MCP credential")
    )

  const removeByThread = (threadId: string) =>
    sql<Row>`DELETE FROM gatehouse_mcp_credentials WHERE thread_id = ${threadId} RETURNING id`.pipe(
      Effect.map(count),
      fail("revoke an MCP credential")
    )

  const removeByProvider = (providerInstanceId: string) =>
    sql<Row>`DELETE FROM gatehouse_mcp_credentials WHERE provider_instance_id = ${providerInstanceId} RETURNING id`
      .pipe(Effect.map(count), fail("revoke MCP credentials"))

  const removeBySessions = (sids: ReadonlyArray<Ids.SessionId>) =>
    Effect.map(
      Effect.forEach(chunks([...new Set(sids)], chunkSize), (chunk) =>
        sql<Row>`DELETE FROM gatehouse_mcp_credentials WHERE ${sql.in("session_id", chunk)} RETURNING id`.pipe(
          Effect.map(count)
        )),
      (counts) =>
        counts.reduce((a, b) =>
          a + b, 0)
    ).pipe(fail("revoke MCP credentials"))

  const removeAll = sql<Row>`DELETE FROM gatehouse_mcp_credentials RETURNING id`.pipe(
    Effect.map(count),
    fail("revoke MCP credentials")
  )

  const removeDead = (now: number, idleMillis: number) =>
    sql<Row>`DELETE FROM gatehouse_mcp_credentials
      WHERE last_used_at <= ${now - idleMillis} OR expires_at <= ${now} RETURNING id`.pipe(
      Effect.map(count),
      fail("prune MCP credentials")
    )

  const list = sql<Row>`SELECT * FROM gatehouse_mcp_credentials ORDER BY created_at, id`.pipe(
    Effect.flatMap((rows) => decode(() => rows.map(toRecord))),
    fail("list MCP credentials")
  )

  const countAll = sql<Row>`SELECT COUNT(*) AS n FROM gatehouse_mcp_credentials`.pipe(
    Effect.flatMap((rows) => decode(() => integer(rows[0]!.n))),
    fail("count MCP credentials")
  )

  const sessionIds = sql<Row>`SELECT DISTINCT session_id FROM gatehouse_mcp_credentials
    WHERE session_id IS NOT NULL`.pipe(
    Effect.flatMap((rows) => decode(() => rows.flatMap((row) => optionalSessionId(row.session_id) ?? []))),
    fail("list MCP credential sessions")
  )

  return McpCredentialStore.McpCredentialStore.of({
    insertReplacingThread,
    findByHash,
    touch,
    removeById,
    removeByThread,
    removeByProvider,
    removeBySessions,
    removeAll,
    removeDead,
    list,
    count: countAll,
    sessionIds
  })
})

/** `McpCredentialStore` over the `SqlClient` in context (migrations must have run: see `Database`). */
export const layer = (): Layer.Layer<McpCredentialStore.McpCredentialStore, never, SqlClient.SqlClient> =>
  Layer.effect(McpCredentialStore.McpCredentialStore, make)
