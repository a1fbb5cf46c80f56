// Exactly-once across processes, not only across fibers: 4 child processes x 250 concurrent
// consumes of one grant (and of a uses = 3 grant, and of one WebSocket ticket id), released at the
// same instant, against one SQLite file and against PostgreSQL.
import { assert, describe, it } from "@effect/vitest"
import { GrantStore, SessionStore } from "@gatehouse-auth/core"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as Database from "../src/Database.ts"
import * as SqlGrantStore from "../src/SqlGrantStore.ts"
import * as SqlSessionStore from "../src/SqlSessionStore.ts"
import { fixture, raceProcesses } from "./helpers/processes.ts"
import { grantRecord } from "./helpers/records.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

const processes = 4
const perProcess = 250

type Tally = Record<string, number>
interface Result {
  readonly once: Tally
  readonly thrice: Tally
  readonly ticket: Tally
}

const sum = (results: ReadonlyArray<Result>, key: keyof Result) => {
  const total: Tally = {}
  for (const result of results) {
    for (const [outcome, n] of Object.entries(result[key])) total[outcome] = (total[outcome] ?? 0) + n
  }
  return total
}

/** Seeds the grants through `database`, races the processes on `target`, checks the totals. */
const race = (
  engine: "sqlite" | "pg",
  target: string,
  database: Layer.Layer<SqlClient.SqlClient, Database.DatabaseError>
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Layer.mergeAll(SqlGrantStore.layer(), SqlSessionStore.layer()).pipe(Layer.provide(database))
    )
    const grants = Context.get(context, GrantStore.GrantStore)
    const sessions = Context.get(context, SessionStore.SessionStore)
    yield* grants.insert(grantRecord("once", 1))
    yield* grants.insert(grantRecord("thrice", 3))

    const outputs = yield* raceProcesses(processes, fixture("consume-race.ts"), [
      engine,
      target,
      "hash-once",
      "hash-thrice",
      "ticket-1",
      String(perProcess)
    ])
    const results = outputs.map((line) => JSON.parse(line) as Result)
    assert.strictEqual(results.length, processes)
    const total = processes * perProcess
    assert.deepStrictEqual(sum(results, "once"), { Consumed: 1, Unknown: total - 1 })
    assert.deepStrictEqual(sum(results, "thrice"), { Consumed: 3, Unknown: total - 3 })
    assert.deepStrictEqual(sum(results, "ticket"), { true: 1, false: total - 1 })
    // The used-up grants are gone for this process too, and the ticket stays used.
    assert.deepStrictEqual(yield* grants.consume("hash-once", 10_000, undefined), { _tag: "Unknown" })
    assert.deepStrictEqual(yield* grants.consume("hash-thrice", 10_000, undefined), { _tag: "Unknown" })
    assert.isFalse(yield* sessions.consumeTicket("ticket-1", 70_000, 10_000))
  })

describe("consume across processes", () => {
  it.effect(
    `SQLite: ${processes} processes x ${perProcess} concurrent consumes on one file`,
    () =>
      Effect.gen(function*() {
        const filename = yield* tempDatabaseFile
        yield* race("sqlite", filename, Database.layerSqlite({ filename }))
      }),
    120_000
  )

  requirePostgresInCi()
  it.effect.skipIf(unavailable !== undefined)(
    `PostgreSQL: ${processes} processes x ${perProcess} concurrent consumes${
      unavailable ? ` (skipped: ${unavailable})` : ""
    }`,
    () =>
      Effect.gen(function*() {
        const url = yield* freshSchemaUrl
        yield* race("pg", url, Database.layerPg({ url: Redacted.make(url) }))
      }),
    120_000
  )
})
