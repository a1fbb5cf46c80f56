// A one-time access token is accepted exactly once across processes: 2 child processes x 50
// concurrent verifies of one `oneTimeUse` token, released at the same instant, against one SQLite
// file and against PostgreSQL (the jti is recorded through `SessionStore.consumeTicket`).
import { assert, describe, it } from "@effect/vitest"
import { AccessTokens, ServerSecretStore, SessionCredentialService, SigningKeyring } from "@gatehouse-auth/core"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as Crypto from "node:crypto"
import * as Database from "../src/Database.ts"
import * as SqlKeyringStore from "../src/SqlKeyringStore.ts"
import * as SqlSessionStore from "../src/SqlSessionStore.ts"
import { fixture, raceProcesses } from "./helpers/processes.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

const processes = 2
const perProcess = 50
const issuer = "http://127.0.0.1:3773"
const variable = ServerSecretStore.overrideVariable("keyring-wrapping-key")

/**
 * Every process (this one and the contenders) shares one wrapping key, as instances on one database
 * must. Set once for the file: the environment is read once per process, so a second value would
 * reach the children but not this process.
 */
const sharedWrappingKey = Effect.sync(() => {
  process.env[variable] ??= Crypto.randomBytes(32).toString("base64url")
})

const race = (
  engine: "sqlite" | "pg",
  target: string,
  database: Layer.Layer<SqlClient.SqlClient, Database.DatabaseError>
) =>
  Effect.gen(function*() {
    yield* sharedWrappingKey
    const context = yield* Layer.build(
      AccessTokens.layer({ issuer }).pipe(
        Layer.provideMerge(SessionCredentialService.layer()),
        Layer.provideMerge(SigningKeyring.layerFromStore()),
        Layer.provideMerge(Layer.merge(SqlSessionStore.layer(), SqlKeyringStore.layer())),
        Layer.provide(Layer.merge(database, ServerSecretStore.layerMemory()))
      )
    )
    const sessions = Context.get(context, SessionCredentialService.SessionCredentialService)
    const tokens = Context.get(context, AccessTokens.AccessTokens)
    const { session } = yield* sessions.issue({ subject: "owner", scopes: ["read:hello"], method: "pairing" })
    const once = yield* tokens.mint({ session, scopes: ["read:hello"], oneTimeUse: true })
    const outputs = yield* raceProcesses(processes, fixture("access-token-race.ts"), [
      engine,
      target,
      issuer,
      Redacted.value(once.token),
      String(perProcess)
    ])
    const total: Record<string, number> = {}
    for (const line of outputs) {
      for (const [outcome, n] of Object.entries(JSON.parse(line) as Record<string, number>)) {
        total[outcome] = (total[outcome] ?? 0) + n
      }
    }
    assert.deepStrictEqual(total, { accepted: 1, Replayed: processes * perProcess - 1 })
    // Used up for this process too.
    const again = yield* Effect.flip(tokens.verify(once.token))
    assert.strictEqual(again._tag === "InvalidAccessToken" && again.reason, "Replayed")
    // An ordinary token made here verifies there: the keys are the database's.
    const plain = yield* tokens.mint({ session, scopes: ["read:hello"] })
    const elsewhere = yield* raceProcesses(1, fixture("access-token-race.ts"), [
      engine,
      target,
      issuer,
      Redacted.value(plain.token),
      "3"
    ])
    assert.deepStrictEqual(JSON.parse(elsewhere[0]!), { accepted: 3 })
  })

describe("one-time access tokens across processes", () => {
  it.live(
    `SQLite: ${processes} processes x ${perProcess} concurrent verifies, exactly one accepted`,
    () =>
      Effect.gen(function*() {
        const filename = yield* tempDatabaseFile
        yield* race("sqlite", filename, Database.layerSqlite({ filename }))
      }),
    120_000
  )

  requirePostgresInCi()
  it.live.skipIf(unavailable !== undefined)(
    `PostgreSQL: ${processes} processes x ${perProcess} concurrent verifies, exactly one accepted${
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
