/**
 * Every store Gatehouse keeps in SQL, in one layer: `GrantStore`, `SessionStore`,
 * `KeyringStore`, `GuestStore`, `McpCredentialStore` (used by `McpSessionRegistry.layerStore`) and
 * `OAuthStore` (the OAuth authorization server's grants, codes and refresh tokens) and `DpopReplayStore` (DPoP
 * proof ids used once across instances). Give them to the core services:
 *
 * ```ts
 * const stores = SqlStores.layerSqlite({ filename: ".gatehouse/gatehouse.db" })
 * const core = BootstrapCredentialService.layer.pipe(
 *   Layer.provideMerge(SessionCredentialService.layer()),
 *   Layer.provideMerge(SigningKeyring.layerFromStore()),
 *   Layer.provideMerge(stores),
 *   Layer.provideMerge(ServerSecretStore.layerConfig)
 * )
 * ```
 *
 * The keyring store needs the `ServerSecretStore` for the key that wraps the signing keys.
 */
import { Layer } from "effect"
import * as Database from "./Database.ts"
import * as SqlDpopReplayStore from "./SqlDpopReplayStore.ts"
import * as SqlGrantStore from "./SqlGrantStore.ts"
import * as SqlGuestStore from "./SqlGuestStore.ts"
import * as SqlKeyringStore from "./SqlKeyringStore.ts"
import * as SqlMcpCredentialStore from "./SqlMcpCredentialStore.ts"
import * as SqlOAuthStore from "./SqlOAuthStore.ts"
import * as SqlSessionStore from "./SqlSessionStore.ts"

/** The stores over the `SqlClient` in context (migrated: see `Database`). */
export const layer = (options: SqlSessionStore.Options = {}) =>
  Layer.mergeAll(
    SqlGrantStore.layer(),
    SqlSessionStore.layer(options),
    SqlKeyringStore.layer(),
    SqlGuestStore.layer(),
    SqlMcpCredentialStore.layer(),
    SqlOAuthStore.layer(),
    SqlDpopReplayStore.layer()
  )

/** The stores over a SQLite file (created and migrated); also provides its `SqlClient`. */
export const layerSqlite = (options: Database.SqliteOptions & SqlSessionStore.Options) =>
  layer(options).pipe(Layer.provideMerge(Database.layerSqlite(options)))

/** The stores over PostgreSQL (migrated; needs `@effect/sql-pg`); also provides its `SqlClient`. */
export const layerPg = (options: Database.PgOptions & SqlSessionStore.Options) =>
  layer(options).pipe(Layer.provideMerge(Database.layerPg(options)))
