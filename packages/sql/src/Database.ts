/**
 * The database connection with the schema in place: a `SqlClient` layer for SQLite (a file) or
 * PostgreSQL (a URL) that connects, runs pending migrations once, and fails with one typed
 * `DatabaseError` carrying a one-line message (no password, no stack trace) when the database is
 * down, unreachable, refuses the login or cannot be migrated.
 */
import { Durations } from "@gatehouse-auth/core"
import { Context, Duration, Effect, Layer, Redacted, Schema } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient } from "effect/sql"
import * as Migrations from "./Migrations.ts"
import * as SqliteClient from "./SqliteClient.ts"
import * as StoreGate from "./StoreGate.ts"

export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  /** Which database, without credentials: a file path or `host:port/name`. */
  database: Schema.String,
  problem: Schema.Literals(["Unavailable", "MigrationFailed", "InvalidUrl", "InvalidSettings"]),
  /** One line saying why, from the driver. */
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    switch (this.problem) {
      case "Unavailable":
        return `Cannot use the database ${this.database}: ${this.detail}`
      case "MigrationFailed":
        return `Cannot update the schema of the database ${this.database}: ${this.detail}`
      case "InvalidUrl":
        return `Invalid database URL: ${this.detail}`
      case "InvalidSettings":
        return `Invalid settings for the database ${this.database}: ${this.detail}`
    }
  }
}

/** The most specific one-line description in a failure: the driver's innermost error message. */
const describe = (error: unknown): string => {
  const messages: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (typeof current === "object") {
      const message = (current as { message?: unknown }).message
      if (typeof message === "string" && message.length > 0) messages.push(message)
      current = (current as { cause?: unknown; reason?: unknown }).reason ?? (current as { cause?: unknown }).cause
    } else {
      messages.push(String(current))
      break
    }
  }
  const line =
    (messages.findLast((message) => !message.startsWith("PgConnection:")) ?? messages.at(-1) ?? "unknown error")
      .replace(/\s+/g, " ")
      .trim()
  return line.length > 300 ? `${line.slice(0, 297)}...` : line
}

const unavailable = (database: string) => (cause: unknown) =>
  new DatabaseError({ database, problem: "Unavailable", detail: describe(cause), cause })

/**
 * Connects (a trivial query), then migrates. Every failure, defects included (a path that cannot
 * be opened, a URL the driver rejects), becomes a `DatabaseError`: never a stack trace.
 */
const prepare = <C extends SqlClient.SqlClient, E, R>(database: string, acquire: Effect.Effect<C, E, R>) =>
  Effect.gen(function*() {
    const sql = yield* acquire.pipe(Effect.mapError(unavailable(database)))
    yield* sql`SELECT 1`.pipe(Effect.mapError(unavailable(database)))
    yield* Migrations.run.pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.mapError((cause) =>
        cause._tag === "SqlError" && cause.reason._tag === "ConnectionError"
          ? unavailable(database)(cause)
          : new DatabaseError({ database, problem: "MigrationFailed", detail: describe(cause), cause })
      )
    )
    return sql
  }).pipe(Effect.catchDefect((defect) => Effect.fail(unavailable(database)(defect))))

export interface SqliteOptions {
  /** The database file, created (0600) if missing; its directory must exist. */
  readonly filename: string
  readonly busyTimeout?: Duration.Input | undefined
}

/** `SqlClient` (and `SqliteDirect` for hot reads) over a SQLite file, schema migrated. */
export const layerSqlite = (
  options: SqliteOptions
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteDirect, DatabaseError> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const { client, direct } = yield* SqliteClient.makeWithDirect(options).pipe(
        Effect.mapError(unavailable(options.filename)),
        Effect.catchDefect((defect) => Effect.fail(unavailable(options.filename)(defect)))
      )
      yield* prepare(options.filename, Effect.succeed(client))
      return Context.make(SqlClient.SqlClient, client).pipe(Context.add(SqliteClient.SqliteDirect, direct))
    })
  ).pipe(Layer.provide(Reactivity.layer))

export interface PgOptions {
  /** `postgres://user:password@host:port/database` (kept redacted). */
  readonly url: Redacted.Redacted<string>
  /** Connections per instance (default 10). */
  readonly maxConnections?: number | undefined
  /** How long one connection attempt may take (default 5 seconds). */
  readonly connectTimeout?: Duration.Input | undefined
  /** Store operations that may wait for a connection (default 256); beyond, 503 at once. */
  readonly maxQueued?: number | undefined
  /** The longest a store operation waits for a connection (default 2 seconds); then 503. */
  readonly acquireTimeout?: Duration.Input | undefined
  /**
   * The longest a statement may run (default 5 seconds): PostgreSQL's `statement_timeout` for the
   * session, and the client's own deadline too, which holds when the server cannot answer at all.
   */
  readonly statementTimeout?: Duration.Input | undefined
  /**
   * The longest a connection may sit idle inside an open transaction (default 10 seconds):
   * PostgreSQL's `idle_in_transaction_session_timeout`, so a process that stalls or dies mid
   * transaction cannot hold row locks (a consume, a rotation) for longer.
   */
  readonly idleInTransactionTimeout?: Duration.Input | undefined
}

/** Defaults of the PostgreSQL layer's connection settings. */
export const defaultConnectTimeout = Duration.seconds(5)
export const defaultIdleInTransactionTimeout = Duration.seconds(10)

/**
 * `host:port/database` of a URL, never its credentials; `undefined` if it is not a postgres URL.
 * Also `undefined` when an `@` follows the authority: a password holding an unencoded `/`, `?` or
 * `#` ends the authority early (`postgres://u:5432/pw@host/db` parses as host `u`, port `5432`,
 * database `pw@host/db`), and describing that URL would print the password.
 */
export const describeUrl = (url: string): string | undefined => {
  const scheme = url.indexOf("://")
  const rest = scheme < 0 ? url : url.slice(scheme + 3)
  const authorityEnd = rest.search(/[/?#]/)
  if (authorityEnd >= 0 && rest.includes("@", authorityEnd)) return undefined
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") return undefined
    return `${parsed.hostname || "localhost"}:${parsed.port || "5432"}${parsed.pathname || "/"}`
  } catch {
    return undefined
  }
}

/**
 * The PostgreSQL driver, loaded only when a PostgreSQL database is asked for: `@effect/sql-pg` is
 * an optional peer, so an application on SQLite installs no PostgreSQL code.
 */
const loadPgClient = (database: string) =>
  Effect.tryPromise({
    try: () => import("@effect/sql-pg/PgClient"),
    catch: (cause) =>
      new DatabaseError({
        database,
        problem: "Unavailable",
        detail: "PostgreSQL needs the @effect/sql-pg package: npm install @effect/sql-pg",
        cause
      })
  })

/**
 * `SqlClient` over PostgreSQL, schema migrated, with the `StoreGate` that bounds the stores' work
 * on its pool. Needs `@effect/sql-pg` installed (an optional peer dependency).
 */
export const layerPg = (
  options: PgOptions
): Layer.Layer<SqlClient.SqlClient | StoreGate.StoreGate, DatabaseError> => {
  const database = describeUrl(Redacted.value(options.url))
  if (database === undefined) {
    return Layer.effectContext(Effect.fail(
      new DatabaseError({
        database: "(invalid URL)",
        problem: "InvalidUrl",
        detail: "expected postgres://user:password@host:port/database (percent-encode / ? # @ in the password)"
      })
    ))
  }
  const maxConnections = options.maxConnections ?? 10
  return Layer.effectContext(
    Effect.gen(function*() {
      const gate = yield* StoreGate.make({ ...options, maxConcurrent: maxConnections }).pipe(
        Effect.mapError((error) => new DatabaseError({ database, problem: "InvalidSettings", detail: error.message }))
      )
      const idleInTransaction = yield* Durations.toMillis(
        "idleInTransactionTimeout",
        options.idleInTransactionTimeout,
        defaultIdleInTransactionTimeout
      ).pipe(
        Effect.mapError((error) => new DatabaseError({ database, problem: "InvalidSettings", detail: error.message }))
      )
      const PgClient = yield* loadPgClient(database)
      const client = PgClient.make({
        url: options.url,
        maxConnections,
        connectTimeout: options.connectTimeout ?? defaultConnectTimeout,
        applicationName: "gatehouse",
        startupParameters: {
          statement_timeout: String(Math.ceil(Duration.toMillis(gate.statementTimeout))),
          idle_in_transaction_session_timeout: String(idleInTransaction)
        }
      })
      const pg = yield* prepare(database, client)
      return Context.make(SqlClient.SqlClient, pg).pipe(Context.add(StoreGate.StoreGate, gate))
    })
  ).pipe(Layer.provide(Reactivity.layer))
}
