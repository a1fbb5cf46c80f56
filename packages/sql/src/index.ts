/**
 * `@gatehouse-auth/sql`: the core's stores over `effect/sql`, on SQLite (`node:sqlite`, the embedded
 * default) or PostgreSQL (several instances on one database). Start with `SqlStores`.
 */

/** The database layers: a SQLite file or a PostgreSQL pool, migrated, with outage-safe settings. */
export * as Database from "./Database.ts"

/** The schema migrations every store needs, applied once (also across processes starting together). */
export * as Migrations from "./Migrations.ts"

/** `DpopReplayStore` over SQL: DPoP proof ids (hashed) recorded once across instances by one upsert. */
export * as SqlDpopReplayStore from "./SqlDpopReplayStore.ts"

/** `GrantStore` over SQL: the atomic consume is one conditional `UPDATE ... RETURNING`. */
export * as SqlGrantStore from "./SqlGrantStore.ts"

/** `GuestStore` over SQL: guests by their cookie's keyed hash; one-winner inserts, binds and revokes. */
export * as SqlGuestStore from "./SqlGuestStore.ts"

/** Gatehouse's own `SqlClient` over `node:sqlite` (no native addon), with direct reads for the hot path. */
export * as SqliteClient from "./SqliteClient.ts"

/** MCP credentials in SQL, shared by every instance on the database (token hashes only). */
export * as SqlMcpCredentialStore from "./SqlMcpCredentialStore.ts"

/** `OAuthStore` in SQL: OAuth grants, hashed codes (consumed once) and refresh tokens (rotated once), shared by instances. */
export * as SqlOAuthStore from "./SqlOAuthStore.ts"

/** `KeyringStore` over SQL: signing keys encrypted at rest, rotations serialised across instances. */
export * as SqlKeyringStore from "./SqlKeyringStore.ts"

/** `SessionStore` over SQL: session records and single-use ticket ids shared by every instance. */
export * as SqlSessionStore from "./SqlSessionStore.ts"

/** The bound on store work over a pool: so many running, a short queue, deadlines; beyond, a 503. */
export * as StoreGate from "./StoreGate.ts"

/** Every store in one layer, over SQLite (`layerSqlite`) or PostgreSQL (`layerPg`): what most apps want. */
export * as SqlStores from "./SqlStores.ts"
