// The DpopReplayStore over SQL: the conformance suite on SQLite (a new file per test) and
// PostgreSQL (a new schema per test) through `SqlStores`; exactly once across two processes and
// across two pools racing the same pairs; expired rows swept; an outage is a StoreError and
// records nothing.
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { DpopReplayStore, DpopVerifier, ServerSecretStore, SigningKeyring } from "@gatehouse-auth/core"
import { DpopReplayStoreConformance } from "@gatehouse-auth/testing"
import { errorTag } from "@gatehouse-auth/testing/support"
import {
  freshSchemaBehindProxy,
  freshSchemaUrl,
  requirePostgresInCi,
  unavailable
} from "@gatehouse-auth/testing/support/postgres"
import { Context, Duration, Effect, FileSystem, Layer, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Database from "../src/Database.ts"
import * as SqlDpopReplayStore from "../src/SqlDpopReplayStore.ts"
import * as SqlStores from "../src/SqlStores.ts"
import { fixture, raceProcesses } from "./helpers/processes.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

DpopReplayStoreConformance.run("SQLite", () =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped()
    return SqlStores.layerSqlite({ filename: Path.join(directory, "gatehouse.db") })
  })).pipe(Layer.provide([ServerSecretStore.layerMemory(), NodeFileSystem.layer])))

requirePostgresInCi()
DpopReplayStoreConformance.run(
  "PostgreSQL",
  () =>
    Layer.unwrap(Effect.map(freshSchemaUrl, (url) => SqlStores.layerPg({ url: Redacted.make(url) }))).pipe(
      Layer.provide(ServerSecretStore.layerMemory())
    ),
  { skip: unavailable }
)

const storeOver = <E>(database: Layer.Layer<SqlClient.SqlClient, E>, options: SqlDpopReplayStore.Options = {}) =>
  Effect.map(
    Layer.build(SqlDpopReplayStore.layer(options).pipe(Layer.provideMerge(database))),
    (context) => ({
      store: Context.get(context, DpopReplayStore.DpopReplayStore),
      sql: Context.get(context, SqlClient.SqlClient)
    })
  )

const rows = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ readonly n: unknown }>`SELECT COUNT(*) AS n FROM gatehouse_dpop_replay`, ([row]) => Number(row!.n))

const pairs = 100
const attempts = 4

/** Two processes record the same `pairs` pairs `attempts` times each at once: one true per pair in all. */
const processRace = (engine: "sqlite" | "pg", target: string) =>
  Effect.gen(function*() {
    const jkt = "race-thumbprint-".padEnd(43, "A")
    const outputs = yield* raceProcesses(2, fixture("dpop-replay-race.ts"), [
      engine,
      target,
      jkt,
      String(pairs),
      String(attempts)
    ])
    const firsts = outputs.flatMap((line) => JSON.parse(line) as Array<string>)
    assert.strictEqual(firsts.length, pairs)
    assert.strictEqual(new Set(firsts).size, pairs)
    // On PostgreSQL each process wins some: the race was real (SQLite serialises writers, so one
    // process may take every pair there).
    if (engine === "pg") { for (const line of outputs) assert.isAbove((JSON.parse(line) as Array<string>).length, 0) }
  })

/** A DPoP proof (ES256) made by hand for `url`, with `nonce`, at iat 0. */
const proofFor = (nonce: string, url: string) => {
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const input = `${encode({ typ: "dpop+jwt", alg: "ES256", jwk: publicKey.export({ format: "jwk" }) })}.${
    encode({ jti: Crypto.randomUUID(), htm: "GET", htu: url, iat: 0, nonce })
  }`
  const signature = Crypto.sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" })
  return `${input}.${signature.toString("base64url")}`
}

describe("SqlDpopReplayStore", () => {
  it.effect.skipIf(unavailable !== undefined)(
    "two instances on one PostgreSQL database: A's nonce serves at B, and a proof consumed at A is Replayed at B",
    () =>
      Effect.gen(function*() {
        const url = Redacted.make(yield* freshSchemaUrl)
        // One secret store: the instances share the key that wraps the signing keys in the database.
        const secrets = ServerSecretStore.layerMemory()
        const instance = Effect.map(
          Layer.build(
            DpopVerifier.layer().pipe(
              Layer.provideMerge(SigningKeyring.layerFromStore()),
              Layer.provideMerge(SqlStores.layerPg({ url })),
              Layer.provide(secrets)
            )
          ),
          Context.get(DpopVerifier.DpopVerifier)
        )
        const a = yield* instance
        const b = yield* instance
        const target = "https://gatehouse.example/api/hello"
        const text = proofFor(yield* a.nonce, target)
        const atA = yield* a.verify({ proofs: [text], method: "GET", url: target })
        const atB = yield* b.verify({ proofs: [text], method: "GET", url: target })
        assert.deepStrictEqual(atA, atB)
        yield* a.consume(atA)
        const replayed = yield* Effect.flip(b.consume(atB))
        assert.deepInclude(replayed, { _tag: "InvalidDpopProof", reason: "Replayed" })
      }),
    60_000
  )

  it.effect(
    "SQLite: two processes racing the same 100 pairs 4 times each: exactly one true per pair",
    () =>
      Effect.gen(function*() {
        const filename = yield* tempDatabaseFile
        yield* Layer.build(Database.layerSqlite({ filename }))
        yield* processRace("sqlite", filename)
      }),
    120_000
  )

  it.effect.skipIf(unavailable !== undefined)(
    "PostgreSQL: two processes racing the same 100 pairs 4 times each: exactly one true per pair",
    () =>
      Effect.gen(function*() {
        const url = yield* freshSchemaUrl
        yield* Layer.build(Database.layerPg({ url: Redacted.make(url) }))
        yield* processRace("pg", url)
      }),
    120_000
  )

  it.effect.skipIf(unavailable !== undefined)(
    "PostgreSQL: two pools racing the same pairs, 20 rounds of 50 pairs: exactly one true per pair",
    () =>
      Effect.gen(function*() {
        const url = Redacted.make(yield* freshSchemaUrl)
        const a = yield* storeOver(Database.layerPg({ url, maxConnections: 8 }))
        const b = yield* storeOver(Database.layerPg({ url, maxConnections: 8 }))
        for (let round = 0; round < 20; round++) {
          const jkt = `round-${round}`.padEnd(43, "B")
          const outcomes = yield* Effect.all(
            Array.from({ length: 50 * 4 }, (_, i) => {
              const jti = `jti-${i % 50}`
              return Effect.map((i % 2 === 0 ? a : b).store.record(jkt, jti, 65_000, 0), (first) => first ? jti : "")
            }),
            { concurrency: "unbounded" }
          )
          const firsts = outcomes.filter((jti) => jti !== "")
          assert.strictEqual(firsts.length, 50, `round ${round}`)
          assert.strictEqual(new Set(firsts).size, 50, `round ${round}`)
        }
      }),
    120_000
  )

  it.effect("rows past their expiry are deleted by a later record once the sweep interval passed", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const { sql, store } = yield* storeOver(Database.layerSqlite({ filename }), { sweepInterval: "1 minute" })
      for (let i = 0; i < 10; i++) assert.isTrue(yield* store.record("k", `old-${i}`, 5_000, 0))
      assert.strictEqual(yield* rows(sql), 10)
      // Expired, but the interval has not passed since the first sweep (at 0): kept for now.
      assert.isTrue(yield* store.record("k", "mid", 100_000, 30_000))
      assert.strictEqual(yield* rows(sql), 11)
      assert.isTrue(yield* store.record("k", "late", 200_000, 60_000))
      assert.strictEqual(yield* rows(sql), 2)
      assert.isFalse(yield* store.record("k", "mid", 100_000, 60_001))
    }))

  it.effect("only the hash of the pair is stored: no thumbprint or jti in the table", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const { sql, store } = yield* storeOver(Database.layerSqlite({ filename }))
      yield* store.record("visible-thumbprint", "visible-jti", 65_000, 0)
      const stored = yield* sql<{ readonly key_hash: string }>`SELECT key_hash FROM gatehouse_dpop_replay`
      assert.deepStrictEqual(stored.map((row) => row.key_hash), [
        SqlDpopReplayStore.pairKey("visible-thumbprint", "visible-jti")
      ])
      assert.match(stored[0]!.key_hash, /^[A-Za-z0-9_-]{43}$/)
    }))

  it.effect(
    "SQLite: proof ids recorded without waiting for an fsync survive a SIGKILL of the process",
    () =>
      Effect.gen(function*() {
        const filename = yield* tempDatabaseFile
        yield* storeOver(Database.layerSqlite({ filename })) // migrated before the child opens it
        const child = yield* Effect.promise(() =>
          new Promise<{ readonly stdout: string; readonly signal: string | null }>((resolve) => {
            let stdout = ""
            const running = ChildProcess.spawn(process.execPath, [
              "--conditions=@gatehouse-auth/source",
              "--disable-warning=ExperimentalWarning",
              fixture("dpop-record-then-kill.ts"),
              filename,
              "jkt-killed",
              "200"
            ], { stdio: ["ignore", "pipe", "inherit"], timeout: 60_000 })
            running.stdout.on("data", (chunk) => stdout += String(chunk))
            running.on("exit", (_code, signal) => resolve({ stdout, signal }))
          })
        )
        assert.deepStrictEqual(child, { stdout: "recorded\n", signal: "SIGKILL" })
        const { sql, store } = yield* storeOver(Database.layerSqlite({ filename }))
        assert.strictEqual(yield* rows(sql), 200)
        for (let i = 0; i < 200; i++) assert.isFalse(yield* store.record("jkt-killed", `jti-${i}`, 1_000_000, 10_000))
        // And the connection is back to durable commits after each of those inserts.
        const [setting] = yield* sql<{ readonly synchronous: number }>`PRAGMA synchronous`
        assert.strictEqual(setting?.synchronous, 2)
      }),
    90_000
  )

  it.effect("SQLite locked by another process: StoreError, nothing recorded; the same pair is first afterwards", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const { store } = yield* storeOver(Database.layerSqlite({ filename, busyTimeout: Duration.millis(100) }))
      const locker = new DatabaseSync(filename)
      locker.exec("BEGIN EXCLUSIVE")
      try {
        assert.strictEqual(errorTag(yield* Effect.exit(store.record("k", "locked", 65_000, 0))), "StoreError")
      } finally {
        locker.exec("ROLLBACK")
        locker.close()
      }
      assert.isTrue(yield* store.record("k", "locked", 65_000, 0))
    }))

  // Live clock: the retry below waits real time for the pool to reconnect.
  it.live.skipIf(unavailable !== undefined)(
    "PostgreSQL cut off: StoreError (the HTTP layer's 503); back up, the pair was not recorded",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { proxy, url } = yield* freshSchemaBehindProxy
        const { store } = yield* storeOver(
          Database.layerPg({ url: Redacted.make(url), connectTimeout: Duration.seconds(2) })
        )
        assert.isTrue(yield* store.record("k", "before", 65_000, 0))
        yield* proxy.down
        assert.strictEqual(errorTag(yield* Effect.exit(store.record("k", "during", 65_000, 0))), "StoreError")
        yield* proxy.up
        // The pool reconnects on its own; a refused attempt meanwhile records nothing either.
        const after = yield* store.record("k", "during", 65_000, 0).pipe(
          Effect.retry({ times: 40, schedule: Schedule.spaced("250 millis") })
        )
        assert.isTrue(after)
        assert.isFalse(yield* store.record("k", "before", 65_000, 0))
      })),
    60_000
  )
})
