/**
 * Where the reference server (and every `gatehouse` command) keeps its state. The ONE place that
 * picks store implementations:
 *
 * - pairing grants, sessions, used WebSocket tickets and the signing keyring: SQLite at
 *   `<stateDir>/gatehouse.db` by default, or PostgreSQL when a database URL is given (several
 *   instances on one database then behave as one);
 * - secrets: on disk, `<stateDir>/secrets/<name>.bin` (directory 0700, files 0600), or from
 *   `GATEHOUSE_SECRET_*`. The signing keys in the database are encrypted under the
 *   `keyring-wrapping-key` secret, so instances sharing a database must share that secret.
 */
import {
  type GrantStore,
  type KeyringStore,
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

/** The state directory, created 0700 if missing (SQLite needs it to exist). */
const stateDirectory = (stateDir: string) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = (yield* Path.Path).resolve(stateDir)
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(
      Effect.mapError((error) => new StateDirectoryError({ directory, reason: error.message }))
    )
  }))

/**
 * `GrantStore`, `SessionStore`, `KeyringStore`, `SigningKeyring` and `ServerSecretStore`.
 * Needs `FileSystem` and `Path`; fails with `DatabaseError` when the database cannot be used and
 * `StateDirectoryError` when the state directory cannot be created.
 */
export const layer = (options: Options) => {
  const secrets = ServerSecretStore.layer({ stateDir: options.stateDir, hosted: options.hosted })
  const database: Layer.Layer<
    GrantStore.GrantStore | SessionStore.SessionStore | KeyringStore.KeyringStore,
    Layer.Error<ReturnType<typeof SqlStores.layerPg>> | StateDirectoryError,
    Layer.Services<ReturnType<typeof SqlStores.layerPg>> | FileSystem.FileSystem | Path.Path
  > = options.databaseUrl !== undefined
    ? SqlStores.layerPg({ url: options.databaseUrl })
    : SqlStores.layerSqlite({ filename: databaseFile(options.stateDir) }).pipe(
      Layer.provide(stateDirectory(options.stateDir))
    )
  return SigningKeyring.layerFromStore({ refreshInterval: options.keyRefreshInterval ?? Duration.minutes(1) }).pipe(
    Layer.provideMerge(database),
    Layer.provideMerge(secrets)
  )
}
