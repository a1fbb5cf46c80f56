// The signing keyring in the database: shared by every instance on it (a rotation by one is seen by
// the others, old tokens keep verifying), never stored in plain text, and refusing to start with
// the wrong wrapping key. Run against SQLite and PostgreSQL.
import { assert, describe, it } from "@effect/vitest"
import { KeyringStore, ServerSecretStore, SigningKeyring } from "@gatehouse-auth/core"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { ConfigProvider, Context, Duration, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import * as Database from "../src/Database.ts"
import * as SqlKeyringStore from "../src/SqlKeyringStore.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

type MakeDatabase = Effect.Effect<() => Layer.Layer<SqlClient.SqlClient, Database.DatabaseError>, never, Scope.Scope>

const memorySecrets = (options: ServerSecretStore.Options = {}) =>
  Effect.service(ServerSecretStore.ServerSecretStore).pipe(Effect.provide(ServerSecretStore.layerMemory(options)))

/** One instance: its own connection(s) to the database, the given secret store, a keyring. */
const instance = (
  database: Layer.Layer<SqlClient.SqlClient, Database.DatabaseError>,
  secrets: ServerSecretStore.ServerSecretStoreShape,
  options: SigningKeyring.Options = {}
) =>
  Layer.build(
    SigningKeyring.layerFromStore({ refreshInterval: Duration.days(365), ...options }).pipe(
      Layer.provideMerge(SqlKeyringStore.layer()),
      Layer.provideMerge(database),
      Layer.provide(Layer.succeed(ServerSecretStore.ServerSecretStore, secrets))
    )
  ).pipe(
    Effect.map((context) => ({
      keyring: Context.get(context, SigningKeyring.SigningKeyring),
      sql: Context.get(context, SqlClient.SqlClient)
    }))
  )

const behaviours = (makeDatabase: MakeDatabase) => {
  it.effect("a token signed by one instance verifies on another; a rotation on one is seen by the other", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      const secrets = yield* memorySecrets()
      const a = (yield* instance(database(), secrets)).keyring
      const b = (yield* instance(database(), secrets)).keyring
      assert.strictEqual((yield* a.current).kid, (yield* b.current).kid)
      const before = yield* a.sign("payload")
      assert.isTrue(yield* b.verify(before.kid, "payload", before.signature))

      yield* TestClock.adjust(Duration.seconds(10))
      const rotated = yield* a.rotate
      const after = yield* a.sign("payload")
      assert.strictEqual(after.kid, rotated.kid)
      // B has never seen the new key id: it reloads from the database and accepts it.
      assert.isTrue(yield* b.verify(after.kid, "payload", after.signature))
      assert.strictEqual((yield* b.current).kid, rotated.kid)
      // Tokens signed before the rotation keep verifying everywhere.
      assert.isTrue(yield* b.verify(before.kid, "payload", before.signature))
      assert.isTrue(yield* a.verify(before.kid, "payload", before.signature))
      // A third instance starting now signs with the new key.
      const c = (yield* instance(database(), secrets)).keyring
      assert.strictEqual((yield* c.current).kid, rotated.kid)
    }))

  it.effect("a rotation made elsewhere is picked up by the background refresh", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      const secrets = yield* memorySecrets()
      const server = (yield* instance(database(), secrets, { refreshInterval: Duration.minutes(1) })).keyring
      const cli = (yield* instance(database(), secrets)).keyring
      const rotated = yield* cli.rotate
      assert.notStrictEqual((yield* server.current).kid, rotated.kid)
      yield* TestClock.adjust(Duration.minutes(1))
      // The refresh reads the database (network I/O on PostgreSQL): wait for it, boundedly.
      for (let attempt = 0; attempt < 200 && (yield* server.current).kid !== rotated.kid; attempt++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      }
      assert.strictEqual((yield* server.current).kid, rotated.kid)
    }))

  it.effect("keys at rest are encrypted under the wrapping key, bound to their key id", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      const secrets = yield* memorySecrets()
      const { keyring, sql } = yield* instance(database(), secrets)
      yield* keyring.rotate
      const rows = yield* sql<{ kid: string; wrapped_key: string; wrapping_key_id: string }>`
        SELECT kid, wrapped_key, wrapping_key_id FROM gatehouse_signing_keys ORDER BY position`
      assert.strictEqual(rows.length, 2)
      const wrappingKey = Redacted.value(Option.getOrThrow(yield* secrets.get(KeyringStore.wrappingKeyName)))
      const keys = (yield* keyring.list).map((key) => key.kid)
      assert.deepStrictEqual(rows.map((row) => row.kid), keys)
      for (const row of rows) {
        const key = Redacted.value(Option.getOrThrow(yield* keyring.byId(row.kid)).key)
        const dump = JSON.stringify(row)
        for (const encoding of ["hex", "base64", "base64url"] as const) {
          assert.notInclude(dump, Buffer.from(key).toString(encoding))
        }
        assert.strictEqual(row.wrapping_key_id, SqlKeyringStore.wrappingKeyId(wrappingKey))
        assert.deepStrictEqual(SqlKeyringStore.unwrap(wrappingKey, row.kid, row.wrapped_key), key)
        // Bound to its kid: the same ciphertext does not open as another key.
        assert.isUndefined(SqlKeyringStore.unwrap(wrappingKey, `${row.kid}x`, row.wrapped_key))
        assert.isUndefined(SqlKeyringStore.unwrap(new Uint8Array(32), row.kid, row.wrapped_key))
      }
    }))

  it.effect("an instance with another wrapping key refuses to start, naming the variable to set", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      yield* instance(database(), yield* memorySecrets())
      const error = yield* Effect.flip(instance(database(), yield* memorySecrets()))
      assert.strictEqual(error._tag, "KeyringError")
      assert.include(error.message, "GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY")
    }))

  it.effect("hosted mode without a wrapping key refuses to start, naming the variable", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      const error = yield* Effect.flip(instance(database(), yield* memorySecrets({ hosted: true })))
      assert.strictEqual(error._tag, "SecretGenerationForbidden")
      assert.include(error.message, "GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY")
    }))

  it.effect("a keyring from GATEHOUSE_SECRET_SIGNING_KEYRING wins: same key everywhere, rotation refused, nothing stored", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      const raw = Buffer.alloc(32, 9)
      const environment = ConfigProvider.layer(ConfigProvider.fromEnv({
        env: { GATEHOUSE_SECRET_SIGNING_KEYRING: raw.toString("base64url") }
      }))
      const secrets = yield* memorySecrets()
      const { keyring, sql } = yield* instance(database(), secrets).pipe(Effect.provide(environment))
      assert.deepStrictEqual(Buffer.from(Redacted.value((yield* keyring.current).key)), raw)
      const error = yield* Effect.flip(keyring.rotate).pipe(Effect.provide(environment))
      assert.strictEqual(error._tag, "KeyringError")
      const rows = yield* sql`SELECT kid FROM gatehouse_signing_keys`
      assert.strictEqual(rows.length, 0)
    }))

  it.effect("two instances starting on an empty database at once end with one key", () =>
    Effect.gen(function*() {
      const database = yield* makeDatabase
      const secrets = yield* memorySecrets()
      // Two stores racing through `create` (the keyring's first start), then both load the same keys.
      const stores = yield* Effect.all(
        [0, 1].map(() =>
          Layer.build(
            SqlKeyringStore.layer().pipe(
              Layer.provide(database()),
              Layer.provide(Layer.succeed(ServerSecretStore.ServerSecretStore, secrets))
            )
          ).pipe(Effect.map(Context.get(KeyringStore.KeyringStore)))
        )
      )
      const key = (kid: string): KeyringStore.SigningKey => ({
        kid,
        key: Redacted.make(new Uint8Array(32).fill(kid.length)),
        createdAt: 0
      })
      const created = yield* Effect.all([stores[0]!.create([key("first")]), stores[1]!.create([key("second!")])], {
        concurrency: "unbounded"
      })
      assert.strictEqual(created[0][0]!.kid, created[1][0]!.kid)
      const loaded = yield* Effect.map(stores[1]!.load, Option.getOrThrow)
      assert.deepStrictEqual(loaded.map((k) => k.kid), [created[0][0]!.kid])
    }))
}

describe("SQL keyring (SQLite)", () => {
  behaviours(Effect.map(tempDatabaseFile, (filename) => () => Database.layerSqlite({ filename })))
})

describe.skipIf(unavailable !== undefined)(
  `SQL keyring (PostgreSQL)${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    behaviours(Effect.map(freshSchemaUrl, (url) => () => Database.layerPg({ url: Redacted.make(url) })))
  }
)

describe("SQL keyring (PostgreSQL required in CI)", () => {
  requirePostgresInCi()
})
