// Bad input and outages. A database that is down, unreachable, refuses the login or is not a
// database fails layer construction with one typed `DatabaseError` and a one-line message (no
// password, no stack trace). An operation during an outage fails with the core's `StoreError`:
// never a defect, never a success, and nothing is lost (a consume that failed used nothing; a
// revoke that failed says so).
import { assert, describe, it } from "@effect/vitest"
import {
  GrantStore,
  ServerSecretStore,
  SessionCredentialService,
  SessionStore,
  SigningKeyring
} from "@gatehouse-auth/core"
import { errorTag, freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import {
  freshSchemaBehindProxy,
  requirePostgresInCi,
  unavailable,
  url as testUrl
} from "@gatehouse-auth/testing/support/postgres"
import { Context, Duration, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Database from "../src/Database.ts"
import * as SqlStores from "../src/SqlStores.ts"
import { gid, grantRecord, sessionRecord, sid } from "./helpers/records.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

const constructionError = <A>(layer: Layer.Layer<A, Database.DatabaseError>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(layer))
    assert.strictEqual(errorTag(exit), "DatabaseError")
    const error = Option.getOrThrow(Exit.findErrorOption(exit as Exit.Exit<unknown, Database.DatabaseError>))
    // One line, short, no stack frames.
    assert.notInclude(error.message, "\n")
    assert.isBelow(error.message.length, 400)
    assert.notMatch(error.message, /\bat \S+:\d+/)
    return error
  })

/** Every store operation, each of which must fail with StoreError during an outage. */
const everyOperation = (grants: GrantStore.GrantStoreShape, sessions: SessionStore.SessionStoreShape) => ({
  "grants.insert": grants.insert(grantRecord("during-outage")),
  "grants.findByHash": grants.findByHash("hash-g1"),
  "grants.consume": grants.consume("hash-g1", 10, undefined),
  "grants.revoke": grants.revoke(gid("g1"), 10),
  "grants.remove": grants.remove(gid("g1")),
  "grants.arm": grants.arm("desktop", 10),
  "grants.listActive": grants.listActive(10),
  "sessions.insert": sessions.insert(sessionRecord("during-outage")),
  "sessions.get": sessions.get(sid("s1")),
  "sessions.getMany": sessions.getMany([sid("s1"), sid("s2")]),
  "sessions.touch": sessions.touch(sid("s1"), 10),
  "sessions.remove": sessions.remove(sid("s1")),
  "sessions.removeAllExcept": sessions.removeAllExcept(sid("s1")),
  "sessions.list": sessions.list,
  "sessions.consumeTicket": sessions.consumeTicket("jti", 100, 10)
})

const allFailWithStoreError = (operations: Record<string, Effect.Effect<unknown, { readonly _tag: string }>>) =>
  Effect.gen(function*() {
    for (const [name, operation] of Object.entries(operations)) {
      assert.strictEqual(errorTag(yield* Effect.exit(operation)), "StoreError", name)
    }
  })

describe("bad input at construction", () => {
  it.effect("PostgreSQL where nothing listens: DatabaseError naming host and port, never the password", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* constructionError(
        Database.layerPg({ url: Redacted.make(`postgres://app:pa55-w0rd@127.0.0.1:${port}/gatehouse`) })
      )
      assert.strictEqual(error.problem, "Unavailable")
      assert.include(error.message, `127.0.0.1:${port}/gatehouse`)
      assert.notInclude(error.message, "pa55-w0rd")
      assert.notInclude(JSON.stringify(error), "pa55-w0rd")
    }))

  it.effect("a URL that is not a PostgreSQL URL: DatabaseError InvalidUrl, never echoing it", () =>
    Effect.gen(function*() {
      for (const url of ["mysql://root:hunter2@db/app", "not a url hunter2", ""]) {
        const error = yield* constructionError(Database.layerPg({ url: Redacted.make(url) }))
        assert.strictEqual(error.problem, "InvalidUrl")
        assert.notInclude(error.message, "hunter2")
      }
    }))

  it.effect("SQLite in a directory that does not exist: DatabaseError naming the file", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const filename = Path.join(directory, "missing", "gatehouse.db")
      const error = yield* constructionError(Database.layerSqlite({ filename }))
      assert.strictEqual(error.problem, "Unavailable")
      assert.include(error.message, filename)
    }))

  it.effect("SQLite on a file that is not a database: DatabaseError", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      Fs.writeFileSync(filename, Buffer.alloc(8192, 0x5a))
      const error = yield* constructionError(Database.layerSqlite({ filename }))
      assert.strictEqual(error.problem, "Unavailable")
      assert.include(error.message.toLowerCase(), "not a database")
    }))

  it.effect.skipIf(unavailable !== undefined)(
    "PostgreSQL refusing the password: DatabaseError, password not shown",
    () =>
      Effect.gen(function*() {
        const wrong = new URL(testUrl!)
        wrong.password = "definitely-not-it"
        const error = yield* constructionError(Database.layerPg({ url: Redacted.make(wrong.toString()) }))
        assert.strictEqual(error.problem, "Unavailable")
        assert.notInclude(error.message, "definitely-not-it")
        assert.match(error.message, /password|authentication/i)
      })
  )
})

describe.skipIf(unavailable !== undefined)("PostgreSQL session timeouts", () => {
  it.effect("every connection has statement_timeout and idle_in_transaction_session_timeout set", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Database.layerPg({
        url: Redacted.make(testUrl!),
        statementTimeout: "3 seconds",
        idleInTransactionTimeout: "7 seconds"
      }))
      const sql = Context.get(context, SqlClient.SqlClient)
      const [statement] = yield* sql<{ statement_timeout: string }>`SHOW statement_timeout`
      const [idle] = yield* sql<
        { idle_in_transaction_session_timeout: string }
      >`SHOW idle_in_transaction_session_timeout`
      assert.strictEqual(statement!.statement_timeout, "3s")
      assert.strictEqual(idle!.idle_in_transaction_session_timeout, "7s")
      // The defaults when none is given: 5 s and 10 s.
      const defaults = Context.get(
        yield* Layer.build(Database.layerPg({ url: Redacted.make(testUrl!) })),
        SqlClient.SqlClient
      )
      const [byDefault] = yield* defaults<
        { idle_in_transaction_session_timeout: string }
      >`SHOW idle_in_transaction_session_timeout`
      assert.strictEqual(byDefault!.idle_in_transaction_session_timeout, "10s")
    }))

  it.effect("a timeout that is not a positive duration fails construction with InvalidSettings", () =>
    Effect.gen(function*() {
      const error = yield* constructionError(
        Database.layerPg({ url: Redacted.make(testUrl!), idleInTransactionTimeout: "-1 seconds" as never })
      )
      assert.strictEqual(error.problem, "InvalidSettings")
    }))
})

describe("outage after construction", () => {
  it.effect("SQLite, database closed underneath the stores: every operation is a StoreError", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        SqlStores.layerSqlite({ filename }).pipe(Layer.provide(ServerSecretStore.layerMemory())),
        scope
      )
      const grants = Context.get(context, GrantStore.GrantStore)
      const sessions = Context.get(context, SessionStore.SessionStore)
      yield* grants.insert(grantRecord("g1"))
      yield* sessions.insert(sessionRecord("s1"))
      yield* Scope.close(scope, Exit.void)
      yield* allFailWithStoreError(everyOperation(grants, sessions))
    }))

  it.effect("SQLite, another process holding the write lock: writes fail with StoreError, use nothing, then work", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const context = yield* Layer.build(
        SqlStores.layerSqlite({ filename, busyTimeout: Duration.millis(100) }).pipe(
          Layer.provide(ServerSecretStore.layerMemory())
        )
      )
      const grants = Context.get(context, GrantStore.GrantStore)
      const sessions = Context.get(context, SessionStore.SessionStore)
      yield* grants.insert(grantRecord("g1"))
      const locker = new DatabaseSync(filename)
      locker.exec("BEGIN EXCLUSIVE")
      try {
        yield* allFailWithStoreError({
          "grants.consume": grants.consume("hash-g1", 10, undefined),
          "grants.insert": grants.insert(grantRecord("g2")),
          "sessions.insert": sessions.insert(sessionRecord("s2")),
          "sessions.consumeTicket": sessions.consumeTicket("jti", 100, 10)
        })
      } finally {
        locker.exec("ROLLBACK")
        locker.close()
      }
      // The failed consume used nothing.
      assert.strictEqual((yield* grants.consume("hash-g1", 10, undefined))._tag, "Consumed")
      assert.isTrue(yield* sessions.consumeTicket("jti", 100, 10))
    }))

  it.effect.skipIf(unavailable !== undefined)(
    "PostgreSQL cut off mid-run: every operation and session verify/revoke fail with StoreError; after it returns nothing was lost",
    () =>
      Effect.gen(function*() {
        const { proxy, url } = yield* freshSchemaBehindProxy
        const stores = SqlStores.layerPg({ url: Redacted.make(url), connectTimeout: Duration.seconds(2) })
        const context = yield* Layer.build(
          SessionCredentialService.layer().pipe(
            Layer.provideMerge(SigningKeyring.layerFromStore({ refreshInterval: Duration.days(1) })),
            Layer.provideMerge(stores),
            Layer.provide(ServerSecretStore.layerMemory())
          )
        )
        const grants = Context.get(context, GrantStore.GrantStore)
        const sessions = Context.get(context, SessionStore.SessionStore)
        const service = Context.get(context, SessionCredentialService.SessionCredentialService)
        yield* grants.insert(grantRecord("g1"))
        yield* sessions.insert(sessionRecord("s1"))
        const issued = yield* service.issue({ subject: "owner", scopes: ["read:hello"], method: "pairing" })

        yield* proxy.down
        yield* allFailWithStoreError({
          ...everyOperation(grants, sessions),
          "service.verify": service.verify(issued.token),
          "service.revoke": service.revoke(issued.session.sid),
          "service.list": service.list
        })

        yield* proxy.up
        assert.strictEqual((yield* grants.consume("hash-g1", 10, undefined))._tag, "Consumed")
        assert.isTrue(Option.isSome(yield* sessions.get(sid("s1"))))
        assert.strictEqual((yield* service.verify(issued.token)).sid, issued.session.sid)
        assert.isTrue(yield* service.revoke(issued.session.sid))
        assert.strictEqual(errorTag(yield* Effect.exit(service.verify(issued.token))), "InvalidSessionToken")
      }),
    60_000
  )

  requirePostgresInCi()
})
