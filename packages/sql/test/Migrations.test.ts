// Migrations run once and are idempotent: a second run applies nothing, a new process on the same
// database sees the schema and applies nothing, and 4 processes migrating a fresh database at the
// same instant all succeed with exactly one of them applying the schema.
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Effect, Layer, Redacted, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import * as Migrations from "../src/Migrations.ts"
import * as SqliteClient from "../src/SqliteClient.ts"
import { fixture, raceProcesses } from "./helpers/processes.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

const tables = [
  "gatehouse_guests",
  "gatehouse_grants",
  "gatehouse_mcp_credentials",
  "gatehouse_migrations",
  "gatehouse_oauth_codes",
  "gatehouse_oauth_grants",
  "gatehouse_oauth_refresh_tokens",
  "gatehouse_sessions",
  "gatehouse_signing_keys",
  "gatehouse_ws_tickets"
]

interface Report {
  readonly applied: ReadonlyArray<readonly [number, string]>
  readonly tables: ReadonlyArray<string>
}

const behaviours = (
  engine: "sqlite" | "pg",
  target: Effect.Effect<string, never, Scope.Scope>,
  client: (target: string) => Layer.Layer<SqlClient.SqlClient, unknown>
) => {
  it.effect("the first run applies the schema; a second run is a no-op", () =>
    Effect.gen(function*() {
      const database = yield* target
      const first = yield* Migrations.run.pipe(Effect.provide(client(database)))
      assert.deepStrictEqual(first, [
        [1, "initial"],
        [2, "grant_created_by"],
        [3, "guests"],
        [4, "mcp_credentials"],
        [
          5,
          "session_transport"
        ],
        [6, "oauth"],
        [8, "dpop_binding"]
      ])
      const second = yield* Migrations.run.pipe(Effect.provide(client(database)))
      assert.deepStrictEqual(second, [])
    }))

  it.effect("a new process on the same database sees the schema and applies nothing", () =>
    Effect.gen(function*() {
      const database = yield* target
      yield* Migrations.run.pipe(Effect.provide(client(database)))
      const [output] = yield* raceProcesses(1, fixture("migrate.ts"), [engine, database])
      const report = JSON.parse(output!) as Report
      assert.deepStrictEqual(report.applied, [])
      assert.includeMembers([...report.tables], tables)
    }), 60_000)

  it.effect(
    "4 processes migrating a fresh database at once: all succeed, exactly one applies",
    () =>
      Effect.gen(function*() {
        const database = yield* target
        const outputs = yield* raceProcesses(4, fixture("migrate.ts"), [engine, database])
        const reports = outputs.map((line) => JSON.parse(line) as Report)
        assert.strictEqual(reports.length, 4)
        assert.deepStrictEqual(
          reports.map((report) => report.applied.length).sort(),
          [0, 0, 0, 7]
        )
        for (const report of reports) assert.includeMembers([...report.tables], tables)
      }),
    90_000
  )
}

describe("migrations (SQLite)", () => {
  behaviours("sqlite", tempDatabaseFile, (filename) => SqliteClient.layer({ filename }))
})

describe.skipIf(unavailable !== undefined)(
  `migrations (PostgreSQL)${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    behaviours("pg", freshSchemaUrl, (url) => PgClient.layer({ url: Redacted.make(url) }))
  }
)

describe("migrations (PostgreSQL required in CI)", () => {
  requirePostgresInCi()
})
