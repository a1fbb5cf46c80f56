// On SQLite the session lookup remembers decoded rows (see SqliteDirect.memoizedRow). These tests
// pin down that nothing remembered outlives a change made anywhere else: by another connection, by
// another store on the same connection, or by another process.
import { assert, describe, it } from "@effect/vitest"
import { SessionStore } from "@gatehouse-auth/core"
import { Context, Deferred, Effect, Fiber, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import * as Database from "../src/Database.ts"
import * as SqlSessionStore from "../src/SqlSessionStore.ts"
import { fixture, runScript } from "./helpers/processes.ts"
import { sessionRecord, sid } from "./helpers/records.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

/** A session store on its own connection to `filename`. */
const storeOn = (filename: string) =>
  Layer.build(SqlSessionStore.layer().pipe(Layer.provide(Database.layerSqlite({ filename })))).pipe(
    Effect.map(Context.get(SessionStore.SessionStore))
  )

describe("SQLite session reads", () => {
  it.effect("a change committed through another connection is seen on the next read", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const server = yield* storeOn(filename)
      const other = yield* storeOn(filename)
      yield* server.insert(sessionRecord("s1", { label: "phone" }))
      assert.strictEqual(Option.getOrThrow(yield* server.get(sid("s1"))).lastSeenAt, 0)
      yield* other.touch(sid("s1"), 5_000)
      assert.strictEqual(Option.getOrThrow(yield* server.get(sid("s1"))).lastSeenAt, 5_000)
      yield* other.remove(sid("s1"))
      assert.isTrue(Option.isNone(yield* server.get(sid("s1"))))
      yield* other.insert({ ...sessionRecord("s1", { label: "phone" }), scopes: ["admin"] })
      assert.deepStrictEqual(Option.getOrThrow(yield* server.get(sid("s1"))).scopes, ["admin"])
    }))

  it.effect("a change made by another store on the same connection is seen on the next read", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const context = yield* Layer.build(Database.layerSqlite({ filename }))
      const makeStore = SqlSessionStore.make().pipe(Effect.provideContext(context))
      const first = yield* makeStore
      const second = yield* makeStore
      yield* first.insert(sessionRecord("s1", { label: "phone" }))
      assert.isTrue(Option.isSome(yield* first.get(sid("s1"))))
      yield* second.remove(sid("s1"))
      assert.isTrue(Option.isNone(yield* first.get(sid("s1"))))
    }))

  it.effect(
    "a session removed by another process (the CLI) is gone on the server's next read",
    () =>
      Effect.gen(function*() {
        const filename = yield* tempDatabaseFile
        const server = yield* storeOn(filename)
        yield* server.insert(sessionRecord("s1", { label: "phone" }))
        yield* server.insert(sessionRecord("s2", { label: "phone" }))
        assert.isTrue(Option.isSome(yield* server.get(sid("s1"))))
        assert.isTrue(Option.isSome(yield* server.get(sid("s2"))))
        const output = yield* runScript(fixture("revoke-session.ts"), [filename, "s1"])
        assert.strictEqual(output.trim(), "true")
        assert.isTrue(Option.isNone(yield* server.get(sid("s1"))))
        assert.isTrue(Option.isSome(yield* server.get(sid("s2"))))
      }),
    60_000
  )

  it.effect("a read never looks inside another fiber's open transaction on the same connection", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const context = yield* Layer.build(Database.layerSqlite({ filename }))
      const sql = Context.get(context, SqlClient.SqlClient)
      const store = yield* SqlSessionStore.make().pipe(Effect.provideContext(context))
      yield* store.insert(sessionRecord("s1", { label: "phone" }))
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // Deletes the session, then waits; finally rolls back (it fails on purpose).
      const transaction = yield* Effect.forkChild(
        sql.withTransaction(
          Effect.gen(function*() {
            yield* sql`DELETE FROM gatehouse_sessions WHERE sid = ${"s1"}`
            yield* Deferred.succeed(inside, undefined)
            yield* Deferred.await(release)
            return yield* Effect.fail("roll back")
          })
        )
      )
      yield* Deferred.await(inside)
      const reader = yield* Effect.forkChild(store.get(sid("s1")))
      yield* Effect.yieldNow
      // The reader waits for the transaction instead of seeing its uncommitted delete.
      assert.isUndefined(reader.pollUnsafe())
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.await(transaction)
      assert.isTrue(Option.isSome(yield* Fiber.join(reader)))
    }))
})
