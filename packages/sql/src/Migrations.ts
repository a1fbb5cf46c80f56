/**
 * The schema, as numbered migrations run by the `effect/sql` Migrator. The statements are written
 * once for both engines: SQLite reads `BIGINT` as INTEGER affinity (64-bit), both support partial
 * indexes, `ON CONFLICT` and `RETURNING`.
 *
 * Times are milliseconds since the epoch (`BIGINT`), as the core stores them. Scopes are a JSON
 * array in a TEXT column (they are only ever read whole).
 *
 * The Migrator records applied ids in `gatehouse_migrations` and runs pending ones in one
 * transaction; concurrent runners serialise on a lock (PostgreSQL: `LOCK TABLE`; SQLite: this
 * package's client starts transactions with `BEGIN IMMEDIATE`), so the second runner finds nothing
 * left to do. Never edit a released migration: add the next number.
 */
import { Effect } from "effect"
import { Migrator, SqlClient } from "effect/sql"

export const table = "gatehouse_migrations"

const statements = (...ddl: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // One statement per call: node:sqlite prepares only the first statement of a string.
    for (const statement of ddl) yield* sql.unsafe(statement)
  })

const initial = statements(
  `CREATE TABLE gatehouse_grants (
    id TEXT PRIMARY KEY,
    credential_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    label TEXT,
    uses INTEGER NOT NULL,
    uses_remaining INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    ttl_millis BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    proof_key_thumbprint TEXT
  )`,
  // Pruning expired grants; arming the desktop grant (few rows have no expiry).
  `CREATE INDEX gatehouse_grants_expires_at ON gatehouse_grants (expires_at)`,
  `CREATE INDEX gatehouse_grants_unarmed ON gatehouse_grants (kind) WHERE expires_at IS NULL`,
  `CREATE TABLE gatehouse_sessions (
    sid TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    client_label TEXT,
    client_device_type TEXT,
    client_os TEXT,
    client_browser TEXT,
    client_ip TEXT
  )`,
  `CREATE INDEX gatehouse_sessions_created_at ON gatehouse_sessions (created_at)`,
  // Used WebSocket ticket ids: the primary key makes "first use" exactly-once across processes.
  `CREATE TABLE gatehouse_ws_tickets (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
  )`,
  `CREATE INDEX gatehouse_ws_tickets_expires_at ON gatehouse_ws_tickets (expires_at)`,
  // Signing keys in keyring order (`position`; the last is current), each wrapped (AES-256-GCM)
  // with a key from the secret store; see SqlKeyringStore.
  `CREATE TABLE gatehouse_signing_keys (
    kid TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    wrapped_key TEXT NOT NULL,
    wrapping_key_id TEXT NOT NULL
  )`
)

// The session that minted a pairing link (`POST /api/auth/pairing-links`); NULL when none did.
// Revoking that session revokes the link, found through the index (few grants have a creator).
const grantCreatedBy = statements(
  `ALTER TABLE gatehouse_grants ADD COLUMN created_by TEXT`,
  `CREATE INDEX gatehouse_grants_created_by ON gatehouse_grants (created_by) WHERE created_by IS NOT NULL`
)

// Guests (GuestSessionService): only the keyed hash of the cookie, UNIQUE so that one cookie can
// never name two guests (NULL, a legacy guest with no cookie yet, may repeat). Pruning reads
// `last_seen_at`; the CLI's list reads newest first.
const guests = statements(
  `CREATE TABLE gatehouse_guests (
    id TEXT PRIMARY KEY,
    cookie_hash TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    revoked_at BIGINT,
    migrated_at BIGINT
  )`,
  `CREATE INDEX gatehouse_guests_last_seen_at ON gatehouse_guests (last_seen_at)`,
  `CREATE INDEX gatehouse_guests_created_at ON gatehouse_guests (created_at)`
)

// MCP credentials shared by instances (SqlMcpCredentialStore): only the SHA-256 of the token, UNIQUE.
// `thread_id` is UNIQUE too, so issuing for a thread replaces its earlier credential in one upsert
// (one live credential per thread, whichever instance issues). The liveness check reads the
// distinct sessions; revoking a session deletes by `session_id`.
const mcpCredentials = statements(
  `CREATE TABLE gatehouse_mcp_credentials (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL UNIQUE,
    provider_instance_id TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    session_id TEXT,
    created_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  )`,
  `CREATE INDEX gatehouse_mcp_credentials_session_id ON gatehouse_mcp_credentials (session_id)
    WHERE session_id IS NOT NULL`,
  `CREATE INDEX gatehouse_mcp_credentials_provider ON gatehouse_mcp_credentials (provider_instance_id)`,
  `CREATE INDEX gatehouse_mcp_credentials_created_at ON gatehouse_mcp_credentials (created_at)`
)

// How a session's token is carried (`cookie` or `bearer`), which decides its lifetimes. Sessions
// made before this migration did not record it: they read as `cookie`, the shorter lifetimes.
const sessionTransport = statements(
  `ALTER TABLE gatehouse_sessions ADD COLUMN transport TEXT NOT NULL DEFAULT 'cookie'`
)

// The OAuth authorization server (SqlOAuthStore). A grant is keyed by its OAuth session's id and
// found by the session that approved it (the revocation cascade). Codes and refresh tokens only
// by their SHA-256; a code is consumed by one conditional UPDATE (`consumed_at IS NULL`), a
// refresh token rotated by one (`rotated_at IS NULL`), so exactly one caller wins on any engine.
const oauth = statements(
  `CREATE TABLE gatehouse_oauth_grants (
    sid TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
  `CREATE INDEX gatehouse_oauth_grants_approved_by ON gatehouse_oauth_grants (approved_by)`,
  `CREATE TABLE gatehouse_oauth_codes (
    code_hash TEXT PRIMARY KEY,
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT
  )`,
  `CREATE INDEX gatehouse_oauth_codes_sid ON gatehouse_oauth_codes (sid)`,
  `CREATE INDEX gatehouse_oauth_codes_expires_at ON gatehouse_oauth_codes (expires_at)`,
  `CREATE TABLE gatehouse_oauth_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    sid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT,
    successor_seal TEXT
  )`,
  `CREATE INDEX gatehouse_oauth_refresh_tokens_sid ON gatehouse_oauth_refresh_tokens (sid)`
)

// DPoP binding: the thumbprint (RFC 7638) of the key a bearer session is bound to; NULL for an
// unbound session (every session made before this migration). Number 7 is the DPoP replay table.
const dpopBinding = statements(
  `ALTER TABLE gatehouse_sessions ADD COLUMN jkt TEXT`
)

export const loader = Migrator.fromRecord({
  "1_initial": initial,
  "2_grant_created_by": grantCreatedBy,
  "3_guests": guests,
  "4_mcp_credentials": mcpCredentials,
  "5_session_transport": sessionTransport,
  "6_oauth": oauth,
  "8_dpop_binding": dpopBinding
})

const migrate = Migrator.make({})

/** Applies pending migrations; returns the ones applied (empty when the schema is current). */
export const run = migrate({ loader, table })
