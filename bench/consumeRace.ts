/**
 * The consume race: a pairing grant with `uses = 1` and 64 concurrent `consume` calls presenting
 * it, through `BootstrapCredentialService` over each grant store. One operation is one whole race
 * (issue, then the 64 consumes); every race checks that exactly one consume won, so a store that
 * got faster by getting wrong fails the benchmark instead of winning it.
 *
 * Side by side in one run: the memory store, SQLite (a real file; one conditional UPDATE ...
 * RETURNING per consume) and, when `GATEHOUSE_TEST_DATABASE_URL` is set (`.ci/run` starts one),
 * PostgreSQL in a schema of its own, dropped afterwards. Ratios are informational: they show what
 * a database costs per race, not a target.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Context, Duration, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { Reactivity } from "effect/reactivity"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Bootstrap from "../packages/core/src/BootstrapCredentialService.ts"
import * as GrantStore from "../packages/core/src/GrantStore.ts"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as Sessions from "../packages/core/src/SessionCredentialService.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import * as Database from "../packages/sql/src/Database.ts"
import * as SqlGrantStore from "../packages/sql/src/SqlGrantStore.ts"
import { type Candidate, compare, ratio, report } from "./harness.ts"

const contenders = 64

/** `iterations` races on `grants`; dies unless each has exactly one winner. */
const races = (grants: Bootstrap.BootstrapCredentialServiceShape) => (iterations: number) =>
  Effect.runPromise(Effect.gen(function*() {
    for (let i = 0; i < iterations; i++) {
      const { credential } = yield* grants.issue({ subject: "owner", scopes: ["read:hello"], ttl: Duration.minutes(5) })
      const outcomes = yield* Effect.all(
        Array.from({ length: contenders }, () => Effect.exit(grants.consume(credential))),
        { concurrency: "unbounded" }
      )
      const won = outcomes.filter(Exit.isSuccess).length
      if (won !== 1) return yield* Effect.die(new Error(`a race had ${won} winners`))
    }
  }))

/** A schema of its own on the PostgreSQL at `url`, and a URL that uses it; dropped with `scope`. */
const freshSchema = (url: string, scope: Scope.Scope) =>
  Effect.runPromise(Effect.gen(function*() {
    const schema = `gh_bench_${process.pid}_${Date.now()}`
    const admin = (statement: string) =>
      Effect.scoped(
        Effect.flatMap(PgClient.make({ url: Redacted.make(url), maxConnections: 1 }), (sql) => sql.unsafe(statement))
      ).pipe(
        Effect.provide(Reactivity.layer)
      )
    yield* admin(`CREATE SCHEMA ${schema}`)
    yield* Scope.addFinalizer(scope, Effect.ignore(admin(`DROP SCHEMA ${schema} CASCADE`)))
    const withSchema = new URL(url)
    withSchema.searchParams.set("options", `-c search_path=${schema}`)
    return withSchema.toString()
  }))

// The grants raced here were made by no session, so the sessions are never read.
const sessions = Sessions.layerMemory().pipe(
  Layer.provide(SigningKeyring.layer()),
  Layer.provide(ServerSecretStore.layerMemory())
)

export const run = async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-"))
  const scope = Effect.runSync(Scope.make())
  const service = (grants: Layer.Layer<GrantStore.GrantStore, unknown>) =>
    Effect.runPromise(Layer.buildWithScope(Bootstrap.layer.pipe(Layer.provide([grants, sessions])), scope)).then(
      Context.get(Bootstrap.BootstrapCredentialService)
    )
  try {
    const candidates: Array<Candidate> = [
      { name: "consume race (memory)", run: races(await service(GrantStore.layerMemory)) },
      {
        name: "consume race (SQLite)",
        run: races(
          await service(
            SqlGrantStore.layer().pipe(
              Layer.provide(Database.layerSqlite({ filename: Path.join(directory, "gatehouse.db") }))
            )
          )
        )
      }
    ]
    const postgres = process.env.GATEHOUSE_TEST_DATABASE_URL
    if (postgres !== undefined && postgres !== "") {
      const url = await freshSchema(postgres, scope)
      candidates.push({
        name: "consume race (PostgreSQL)",
        run: races(
          await service(SqlGrantStore.layer().pipe(Layer.provide(Database.layerPg({ url: Redacted.make(url) }))))
        )
      })
    } else {
      console.log("consumeRace: PostgreSQL left out (GATEHOUSE_TEST_DATABASE_URL is not set)")
    }
    const results = await compare(candidates, { rounds: 5, roundMillis: 500 })
    report("consumeRace", results, [
      ratio(results, "SQLite / memory (informational)", "consume race (SQLite)", "consume race (memory)", 0),
      ...(candidates.length > 2
        ? [
          ratio(results, "PostgreSQL / memory (informational)", "consume race (PostgreSQL)", "consume race (memory)", 0)
        ]
        : [])
    ], {
      contenders,
      unit: `races per second (one race = issue + ${contenders} concurrent consumes, exactly one wins)`
    })
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(directory, { recursive: true, force: true })
  }
}
