/**
 * The PostgreSQL the suites run against: `GATEHOUSE_TEST_DATABASE_URL` (`.ci/run` starts one; see
 * `.ci/postgres.sh` to start one by hand). In CI (`CI=true`) a missing or unreachable database fails
 * the run; elsewhere the PostgreSQL suites are skipped, and say so.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { it } from "@effect/vitest"
import { Duration, Effect, Redacted } from "effect"
import { Reactivity } from "effect/reactivity"
import { tcpProxy } from "./network.ts"

export const url = process.env.GATEHOUSE_TEST_DATABASE_URL
const inCi = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false"

const adminClient = (target: string) =>
  PgClient.make({ url: Redacted.make(target), connectTimeout: Duration.seconds(3), maxConnections: 1 }).pipe(
    Effect.provide(Reactivity.layer)
  )

const probe = async (): Promise<string | undefined> => {
  if (url === undefined || url === "") return "GATEHOUSE_TEST_DATABASE_URL is not set"
  const result = await Effect.runPromise(
    Effect.scoped(Effect.flatMap(adminClient(url), (sql) => sql`SELECT 1`)).pipe(
      Effect.match({ onFailure: (error) => `cannot reach it: ${error.message}`, onSuccess: () => undefined })
    )
  )
  return result
}

/** Why PostgreSQL cannot be used, or `undefined` when it can. */
export const unavailable = await probe()

if (unavailable !== undefined && !inCi) {
  console.warn(`PostgreSQL suites SKIPPED: ${unavailable} (start one with: source .ci/postgres.sh && postgres_start)`)
}

/** A test that fails in CI when PostgreSQL is missing (so a missing database is never a silent skip). */
export const requirePostgresInCi = () =>
  it.skipIf(!inCi)("PostgreSQL is available (required in CI)", () => {
    if (unavailable !== undefined) throw new Error(`PostgreSQL is required in CI: ${unavailable}`)
  })

let schemas = 0

/**
 * A fresh, empty schema for the scope (dropped when it closes) and the URL that puts every
 * connection in it, so tests never see each other's tables.
 */
export const freshSchemaUrl = Effect.gen(function*() {
  const base = url!
  const schema = `gh_${process.pid}_${++schemas}_${Math.random().toString(36).slice(2, 8)}`
  const run = (statement: string) =>
    Effect.scoped(Effect.flatMap(adminClient(base), (sql) => sql.unsafe(statement))).pipe(Effect.orDie)
  yield* Effect.acquireRelease(run(`CREATE SCHEMA ${schema}`), () => run(`DROP SCHEMA ${schema} CASCADE`))
  const withSchema = new URL(base)
  withSchema.searchParams.set("options", `-c search_path=${schema}`)
  return withSchema.toString()
})

/**
 * A fresh schema (as `freshSchemaUrl`) reached through a `tcpProxy`, to cut the database off for
 * real: the URL that goes through the proxy, and the proxy.
 */
export const freshSchemaBehindProxy = Effect.gen(function*() {
  const url = new URL(yield* freshSchemaUrl)
  const proxy = yield* tcpProxy({ host: url.hostname, port: Number(url.port || 5432) })
  url.hostname = "127.0.0.1"
  url.port = String(proxy.port)
  return { url: url.toString(), proxy }
})
