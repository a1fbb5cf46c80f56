/**
 * Where the reference server (and every `gatehouse` command) keeps its state. The ONE place that
 * picks store implementations:
 *
 * - pairing grants, sessions, used WebSocket tickets, guests and the signing keyring: SQLite at
 *   `<stateDir>/gatehouse.db` by default, or PostgreSQL when a database URL is given (several
 *   instances on one database then behave as one);
 * - secrets: on disk, `<stateDir>/secrets/<name>.bin` (directory 0700, files 0600), or from
 *   `GATEHOUSE_SECRET_*`. The signing keys in the database are encrypted under the
 *   `keyring-wrapping-key` secret, so instances sharing a database must share that secret;
 * - nothing of the state is used unless it is ours: `check` (and `ServerSecretStore` for
 *   `secrets/`) refuse links, other owners and directories others can write, before anything is
 *   opened or written.
 */
import {
  AtomicFile,
  type DpopReplayStore,
  type GrantStore,
  type GuestStore,
  type KeyringStore,
  type McpCredentialStore,
  type OAuthStore,
  OwnedPath,
  ServerSecretStore,
  type SessionStore,
  SigningKeyring
} from "@gatehouse-auth/core"
import { SqlStores } from "@gatehouse-auth/sql"
import { Duration, Effect, FileSystem, Layer, Path, type Redacted, Schema } from "effect"

export interface Options {
  readonly stateDir: string
  /** PostgreSQL instead of the SQLite file in the state directory. */
  readonly databaseUrl?: Redacted.Redacted<string> | undefined
  /** Refuse to generate secrets on disk (they must come from `GATEHOUSE_SECRET_*`). */
  readonly hosted?: boolean | undefined
  /**
   * How often the keyring is re-read from the database (default 1 minute), so that a rotation by
   * another instance or `gatehouse keys rotate` is used for signing. Tokens signed with a key this
   * process does not know yet are verified at once (an unknown key id triggers a reload).
   */
  readonly keyRefreshInterval?: Duration.Input | undefined
}

export const databaseFile = (stateDir: string): string => `${stateDir.replace(/\/+$/, "")}/gatehouse.db`

export class StateDirectoryError extends Schema.TaggedError<StateDirectoryError>()("StateDirectoryError", {
  directory: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Cannot create the state directory ${this.directory}: ${this.reason}`
  }
}

/**
 * The state directory and the files of it this module trusts, checked with `OwnedPath` (no link,
 * our uid, not writable by others; a loose mode of ours tightened and logged): the directory,
 * `server.json`, and the SQLite file with its `-wal` and `-shm` when the database is SQLite.
 * `secrets/` is checked by `ServerSecretStore`. Creates nothing: a missing path is fine.
 */
export const check = (stateDir: string, options: { readonly sqlite: boolean }) =>
  Effect.gen(function*() {
    const path = yield* Path.Path
    const directory = path.resolve(stateDir)
    yield* OwnedPath.check(directory, "directory")
    const database = databaseFile(directory)
    const files = [
      path.join(directory, "server.json"),
      ...(options.sqlite ? [database, `${database}-wal`, `${database}-shm`] : [])
    ]
    yield* Effect.forEach(files, (file) => OwnedPath.check(file, "file"), { discard: true })
  })

/**
 * The state directory, created 0700 if missing (SQLite needs it to exist), and checked before and
 * after: before, so that mkdir never runs through a planted link; after, for what it found there.
 * Temp files of interrupted writes are removed.
 */
const stateDirectory = (stateDir: string, options: { readonly sqlite: boolean }) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = (yield* Path.Path).resolve(stateDir)
    yield* check(directory, options)
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(
      Effect.mapError((error) => new StateDirectoryError({ directory, reason: error.message }))
    )
    yield* check(directory, options)
    // A `server.json` write a crash interrupted leaves its temp file here (see `AtomicFile`).
    yield* AtomicFile.removeStale(directory).pipe(
      Effect.mapError((error) => new StateDirectoryError({ directory, reason: error.message }))
    )
  }))

/**
 * `GrantStore`, `SessionStore`, `KeyringStore`, `GuestStore`, `McpCredentialStore` (used on PostgreSQL),
 * `OAuthStore`, `DpopReplayStore`,
 * `SigningKeyring` and `ServerSecretStore`.
 * Needs `FileSystem` and `Path`; fails with `DatabaseError` when the database cannot be used,
 * `StateDirectoryError` when the state directory cannot be created and `UnsafePathError` when a
 * path of the state is not ours (see `check`).
 */
export const layer = (options: Options) => {
  const sqlite = options.databaseUrl === undefined
  const secrets = ServerSecretStore.layer({ stateDir: options.stateDir, hosted: options.hosted })
  const database: Layer.Layer<
    | GrantStore.GrantStore
    | SessionStore.SessionStore
    | KeyringStore.KeyringStore
    | GuestStore.GuestStore
    | McpCredentialStore.McpCredentialStore
    | OAuthStore.OAuthStore
    | DpopReplayStore.DpopReplayStore,
    Layer.Error<ReturnType<typeof SqlStores.layerPg>>,
    Layer.Services<ReturnType<typeof SqlStores.layerPg>> | FileSystem.FileSystem | Path.Path
  > = options.databaseUrl !== undefined
    ? SqlStores.layerPg({ url: options.databaseUrl })
    : SqlStores.layerSqlite({ filename: databaseFile(options.stateDir) })
  // The state is checked first, whatever the database: secrets/ and server.json live there too.
  return SigningKeyring.layerFromStore({ refreshInterval: options.keyRefreshInterval ?? Duration.minutes(1) }).pipe(
    Layer.provideMerge(database),
    Layer.provideMerge(secrets),
    Layer.provideMerge(stateDirectory(options.stateDir, { sqlite }))
  )
}
