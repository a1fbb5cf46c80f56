/**
 * An `effect/sql` `SqlClient` over `node:sqlite` (no native build).
 *
 * Why not `@effect/sql-sqlite-node`: every 4.x release of it published so far (4.0.0-beta.x)
 * imports `effect/unstable/sql/*`, paths effect 4.1 no longer has, so it cannot load beside
 * effect 4.1. This module is the small part of such a driver the stores need, built on the pieces
 * effect 4.1 exports for exactly this (`SqlClient.make`, `SqlClient.makeSqliteAcquirers`,
 * `Statement.makeCompilerSqlite`).
 *
 * What it does differently from a general-purpose driver, on purpose:
 * - several processes share one file (the server, the CLI, a second server): a busy timeout makes
 *   a writer wait for the lock instead of failing with SQLITE_BUSY, and transactions start with
 *   `BEGIN IMMEDIATE` so a read-then-write transaction never hits a lock upgrade deadlock;
 * - the database file is created 0600 (SQLite gives its -wal and -shm files the same mode);
 * - WAL journal, so readers never wait for the writer, with `synchronous = FULL` (and `fullfsync`
 *   on macOS): a commit that returned is on disk, so it survives a power loss as well as a crash.
 */
import { Context, Duration, Effect, Layer, Semaphore, Stream } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient, SqlError } from "effect/sql"
import type { SqlConnection } from "effect/sql"
import * as Statement from "effect/sql/Statement"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"

export interface Options {
  /** Path of the database file; created (0600) if missing. */
  readonly filename: string
  /** How long a statement waits for another process's write lock (default 10 seconds). */
  readonly busyTimeout?: Duration.Input | undefined
  /** Prepared statements kept per connection (default 128). */
  readonly statementCacheSize?: number | undefined
}

const sqlError = (cause: unknown, message: string, operation: string) => {
  // node:sqlite reports SQLite's result code as `errcode`; the shared classifier reads `errno`.
  if (typeof cause === "object" && cause !== null && "errcode" in cause && !("errno" in cause)) {
    Object.assign(cause, { errno: (cause as { errcode: unknown }).errcode })
  }
  return new SqlError.SqlError({ reason: SqlError.classifySqliteError(cause, { message, operation }) })
}

/**
 * Creates the file with mode 0600 if it does not exist yet (never loosens an existing file), so
 * that SQLite, which gives its `-wal` and `-shm` files the database's mode, never creates anything
 * readable by others. The new file and its directory entry are fsync-ed.
 */
const createPrivateFile = (filename: string) => {
  let fd: number
  try {
    fd = Fs.openSync(filename, "wx", 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    return
  }
  try {
    Fs.fsyncSync(fd)
  } finally {
    Fs.closeSync(fd)
  }
  if (process.platform !== "win32") {
    const directory = Fs.openSync(Path.dirname(filename), "r")
    try {
      Fs.fsyncSync(directory)
    } finally {
      Fs.closeSync(directory)
    }
  }
}

const open = (options: Options) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        createPrivateFile(options.filename)
        const db = new DatabaseSync(options.filename)
        try {
          const busyMillis = Duration.toMillis(Duration.fromInputUnsafe(options.busyTimeout ?? Duration.seconds(10)))
          // The busy timeout first: switching to WAL takes a lock another process may hold.
          db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyMillis))}`)
          db.exec("PRAGMA journal_mode = WAL")
          // Durable commits: in WAL mode FULL fsyncs the WAL at every commit, so a transaction that
          // returned survives a power loss (NORMAL could lose the last ones). Said here rather than
          // left to the build's default. fullfsync matters on macOS only, where plain fsync does not
          // flush the drive's cache (F_FULLFSYNC does); elsewhere SQLite ignores it.
          db.exec("PRAGMA synchronous = FULL")
          db.exec("PRAGMA fullfsync = ON")
          return db
        } catch (error) {
          db.close()
          throw error
        }
      },
      catch: (cause) => sqlError(cause, `Cannot open SQLite database ${options.filename}`, "open")
    }),
    (db) => Effect.sync(() => db.isOpen && db.close())
  )

/**
 * Counts the statements run through the `SqlClient` on a connection: any of them may have changed
 * a row, so `SqliteDirect` forgets what it remembered whenever the count moves.
 */
interface StatementCounter {
  count: number
}

const makeConnection = (db: DatabaseSync, cacheSize: number, counter: StatementCounter): SqlConnection.Connection => {
  const statements = new Map<string, StatementSync>()
  const prepare = (sql: string): StatementSync => {
    const cached = statements.get(sql)
    if (cached !== undefined) return cached
    const statement = db.prepare(sql)
    if (statements.size >= cacheSize) statements.clear()
    statements.set(sql, statement)
    return statement
  }

  const run = (statement: StatementSync, params: ReadonlyArray<unknown>, arrays: boolean): ReadonlyArray<any> => {
    statement.setReturnArrays(arrays)
    if (statement.columns().length > 0) return statement.all(...(params as Array<any>))
    statement.run(...(params as Array<any>))
    return []
  }

  const attempt = <A>(operation: string, f: () => A) =>
    Effect.try({
      try: () => {
        try {
          return f()
        } finally {
          counter.count++
        }
      },
      catch: (cause) => sqlError(cause, "Failed to execute statement", operation)
    })

  const rows = (sql: string, params: ReadonlyArray<unknown>, prepared: boolean) =>
    attempt("execute", () => run(prepared ? prepare(sql) : db.prepare(sql), params, false))

  const values = (sql: string, params: ReadonlyArray<unknown>, prepared: boolean) =>
    attempt(
      "executeValues",
      () => run(prepared ? prepare(sql) : db.prepare(sql), params, true) as ReadonlyArray<ReadonlyArray<unknown>>
    )

  return {
    execute: (sql, params, transformRows) =>
      transformRows === undefined ? rows(sql, params, true) : Effect.map(rows(sql, params, true), transformRows),
    executeUnprepared: (sql, params, transformRows) =>
      transformRows === undefined ? rows(sql, params, false) : Effect.map(rows(sql, params, false), transformRows),
    executeRaw: (sql, params) =>
      attempt("executeRaw", () => {
        const statement = prepare(sql)
        statement.setReturnArrays(false)
        if (statement.columns().length > 0) return statement.all(...(params as Array<any>))
        const result = statement.run(...(params as Array<any>))
        return { changes: result.changes, lastInsertRowid: result.lastInsertRowid }
      }),
    executeValues: (sql, params) => values(sql, params, true),
    executeValuesUnprepared: (sql, params) => values(sql, params, false),
    executeStream: () => Stream.die(new Error("streaming is not supported by the SQLite client"))
  }
}

/**
 * Reads on the client's own connection without the statement machinery (compiling, a tracing span
 * and a scope per query), for the one lookup every authenticated request makes. They take turns
 * with the `SqlClient` through the same semaphore, so never call them inside that client's
 * transaction.
 */
export interface SqliteDirectShape {
  /** A prepared single-row query; the row comes back as an array of column values. */
  readonly getRow: (
    sql: string
  ) => (params: ReadonlyArray<SQLInputValue>) => Effect.Effect<ReadonlyArray<unknown> | undefined, SqlError.SqlError>
  /**
   * A single-row query by one key whose decoded rows are remembered until the database may have
   * changed: every remembered row is dropped as soon as another connection, in any process, commits
   * anything (`PRAGMA data_version`) or this connection runs any statement through the `SqlClient`.
   * Both are checked before each read, so a remembered row is never older than the last commit: a
   * session revoked by the CLI is rejected on the server's next request. Missing rows are not
   * remembered.
   */
  readonly memoizedRow: <A>(
    options: MemoizedRowOptions<A>
  ) => (key: string) => Effect.Effect<A | undefined, SqlError.SqlError>
  /**
   * A write of at most one row (the row `RETURNING` gives, if any) committed without waiting for the
   * disk: `synchronous = NORMAL` for this one statement, then FULL again, in one synchronous call so
   * no other statement runs in between. In WAL mode such a commit is in the WAL before it returns,
   * so it survives a crash of the process; a power loss before the next FULL commit (which syncs the
   * whole WAL) may lose it. Only for rows worthless within a minute, such as DPoP proof ids: a
   * machine takes longer than that to come back, and an fsync per request would cost more than
   * the rest of the request. Never for a table a `memoizedRow` reads: such a write does not make
   * the remembered rows be forgotten.
   */
  readonly relaxedWriteRow: (
    sql: string
  ) => (params: ReadonlyArray<SQLInputValue>) => Effect.Effect<ReadonlyArray<unknown> | undefined, SqlError.SqlError>
}

export interface MemoizedRowOptions<A> {
  readonly sql: string
  readonly decode: (row: ReadonlyArray<unknown>) => A
  /** Rows remembered at most (default 10,000); all are dropped when full. */
  readonly capacity?: number | undefined
}

export class SqliteDirect
  extends Context.Service<SqliteDirect, SqliteDirectShape>()("@gatehouse-auth/sql/SqliteDirect")
{}

const makeDirect = (
  db: DatabaseSync,
  semaphore: Semaphore.Semaphore,
  counter: StatementCounter
): SqliteDirectShape => {
  /** Prepared on first use (after migrations created the tables). */
  const lazyStatement = (sql: string) => {
    let statement: StatementSync | undefined
    return () => {
      if (statement === undefined) {
        statement = db.prepare(sql)
        statement.setReturnArrays(true)
      }
      return statement
    }
  }
  const dataVersion = lazyStatement("PRAGMA data_version")

  /**
   * Runs a synchronous read. Statements never interleave (each is one synchronous call), so the
   * only state to wait for is a transaction another fiber has open on this connection: then the
   * read takes its turn through the semaphore instead of reading inside that transaction.
   */
  const direct = <A>(operation: string, f: () => A): Effect.Effect<A, SqlError.SqlError> => {
    const fail = (cause: unknown) => Effect.fail(sqlError(cause, "Failed to execute statement", operation))
    const locked = semaphore.withPermit(Effect.suspend(() => {
      try {
        return Effect.succeed(f())
      } catch (cause) {
        return fail(cause)
      }
    }))
    return Effect.suspend(() => {
      try {
        // `isTransaction` throws too once the database is closed: a typed failure like any other.
        return db.isTransaction ? locked : Effect.succeed(f())
      } catch (cause) {
        return fail(cause)
      }
    })
  }

  return {
    getRow: (sql) => {
      const statement = lazyStatement(sql)
      return (params) =>
        direct("getRow", () => statement().get(...params) as unknown as ReadonlyArray<unknown> | undefined)
    },
    relaxedWriteRow: (sql) => {
      const statement = lazyStatement(sql)
      return (params) =>
        direct("relaxedWriteRow", () => {
          // No `counter.count++`: the table written is one no `memoizedRow` reads (see the shape),
          // so the rows remembered for every request (the session's) stay remembered.
          db.exec("PRAGMA synchronous = NORMAL")
          try {
            return statement().get(...params) as unknown as ReadonlyArray<unknown> | undefined
          } finally {
            db.exec("PRAGMA synchronous = FULL")
          }
        })
    },
    memoizedRow: <A>(options: MemoizedRowOptions<A>) => {
      const { capacity = 10_000, decode, sql } = options
      const statement = lazyStatement(sql)
      const rows = new Map<string, A>()
      let seenVersion: unknown = undefined
      let seenCount = -1
      return (key) =>
        direct("memoizedRow", (): A | undefined => {
          // Another connection committed (data_version), or this one ran a statement: forget all.
          const version = (dataVersion().get() as unknown as ReadonlyArray<unknown>)[0]
          if (version !== seenVersion || counter.count !== seenCount) {
            rows.clear()
            seenVersion = version
            seenCount = counter.count
          }
          const remembered = rows.get(key)
          if (remembered !== undefined) return remembered
          const row = statement().get(key) as unknown as ReadonlyArray<unknown> | undefined
          if (row === undefined) return undefined
          const value = decode(row)
          if (rows.size >= capacity) rows.clear()
          rows.set(key, value)
          return value
        })
    }
  }
}

/** A scoped client over one connection, plus direct reads on it; fibers take turns through a semaphore. */
export const makeWithDirect = Effect.fnUntraced(function*(options: Options) {
  const db = yield* open(options)
  const counter: StatementCounter = { count: 0 }
  const connection = makeConnection(db, options.statementCacheSize ?? 128, counter)
  const semaphore = yield* Semaphore.make(1)
  const acquirers = SqlClient.makeSqliteAcquirers({
    connection: Effect.succeed(connection),
    semaphore,
    isTransaction: () => db.isTransaction
  })
  const client = yield* SqlClient.make({
    ...acquirers,
    compiler: Statement.makeCompilerSqlite(),
    driver: "gatehouse-sqlite-node",
    spanAttributes: [["db.system.name", "sqlite"]],
    beginTransaction: "BEGIN IMMEDIATE",
    prepareTransactionControls: true
  })
  return { client, direct: makeDirect(db, semaphore, counter) }
})

/** A scoped `SqlClient` over one connection; fibers take turns through a semaphore. */
export const make = (options: Options) => Effect.map(makeWithDirect(options), ({ client }) => client)

/** `SqlClient` and `SqliteDirect` over the SQLite file `options.filename` (no migrations: see `Database`). */
export const layer = (options: Options): Layer.Layer<SqlClient.SqlClient | SqliteDirect, SqlError.SqlError> =>
  Layer.effectContext(
    Effect.map(
      makeWithDirect(options),
      ({ client, direct }) => Context.make(SqlClient.SqlClient, client).pipe(Context.add(SqliteDirect, direct))
    )
  ).pipe(Layer.provide(Reactivity.layer))
