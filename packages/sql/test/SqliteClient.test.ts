// The SQLite client: files private from creation, WAL journal with durable commits, transactions that take the write
// lock up front.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as Fs from "node:fs"
import * as Database from "../src/Database.ts"
import * as SqliteClient from "../src/SqliteClient.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

const mode = (path: string) => Fs.statSync(path).mode & 0o777

describe("SqliteClient", () => {
  it.effect("creates the database (and its -wal and -shm files) readable by the owner only", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const previous = process.umask(0o022)
      const context = yield* Layer.build(Database.layerSqlite({ filename })).pipe(
        Effect.ensuring(Effect.sync(() => process.umask(previous)))
      )
      // A write, so that the WAL exists while the connection is open.
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* sql`INSERT INTO gatehouse_ws_tickets (jti, expires_at) VALUES (${"j"}, ${1})`
      for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
        assert.isTrue(Fs.existsSync(file), file)
        assert.strictEqual(mode(file), 0o600, file)
      }
    }))

  it.effect("never loosens an existing file's mode", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      Fs.writeFileSync(filename, "")
      Fs.chmodSync(filename, 0o640)
      yield* Effect.service(SqlClient.SqlClient).pipe(Effect.provide(Database.layerSqlite({ filename })))
      assert.strictEqual(mode(filename), 0o640)
    }))

  it.effect("uses the WAL journal and starts transactions with BEGIN IMMEDIATE", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const rows = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const journal = yield* sql<{ journal_mode: string }>`PRAGMA journal_mode`
        // Inside a transaction this connection already holds the write lock: another connection
        // cannot start writing.
        const other = new (yield* Effect.promise(() => import("node:sqlite"))).DatabaseSync(filename, { timeout: 0 })
        const blocked = yield* sql.withTransaction(Effect.sync(() => {
          try {
            other.exec("BEGIN IMMEDIATE")
            other.exec("ROLLBACK")
            return false
          } catch {
            return true
          }
        }))
        other.close()
        return { journal: journal[0]?.journal_mode, blocked }
      }).pipe(Effect.provide(Database.layerSqlite({ filename })))
      assert.deepStrictEqual(rows, { journal: "wal", blocked: true })
    }))

  it.effect("commits are durable: synchronous FULL (2) and fullfsync on (macOS flushes the drive's cache)", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const settings = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const [synchronous] = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
        const [fullfsync] = yield* sql<{ fullfsync: number }>`PRAGMA fullfsync`
        return { synchronous: synchronous?.synchronous, fullfsync: fullfsync?.fullfsync }
      }).pipe(Effect.provide(Database.layerSqlite({ filename })))
      assert.deepStrictEqual(settings, { synchronous: 2, fullfsync: 1 })
    }))

  it.effect("a relaxed write returns its row once and leaves the connection at synchronous FULL, after a failure too", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const outcome = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const direct = yield* SqliteClient.SqliteDirect
        const insert = direct.relaxedWriteRow(
          "INSERT INTO gatehouse_ws_tickets (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING jti"
        )
        const first = yield* insert(["relaxed", 1])
        const again = yield* insert(["relaxed", 1])
        const afterSuccess = (yield* sql<{ synchronous: number }>`PRAGMA synchronous`)[0]?.synchronous
        // NOT NULL violated: the statement throws inside the relaxed section.
        const failed = yield* Effect.exit(insert(["broken", null]))
        const afterFailure = (yield* sql<{ synchronous: number }>`PRAGMA synchronous`)[0]?.synchronous
        const stored = yield* sql<{ jti: string }>`SELECT jti FROM gatehouse_ws_tickets`
        return {
          first,
          again,
          afterSuccess,
          failed: failed._tag,
          afterFailure,
          stored: stored.map((row) => row.jti)
        }
      }).pipe(Effect.provide(Database.layerSqlite({ filename })))
      assert.deepStrictEqual(outcome, {
        first: ["relaxed"],
        again: undefined,
        afterSuccess: 2,
        failed: "Failure",
        afterFailure: 2,
        stored: ["relaxed"]
      })
    }))
})
