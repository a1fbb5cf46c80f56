/**
 * `@gatehouse-auth/core`: the services, schemas, errors and in-memory stores of Gatehouse. No HTTP and no
 * SQL here; `@gatehouse-auth/http` and `@gatehouse-auth/sql` build on these modules.
 */

/** AccessTokens: short-lived JWTs (Ed25519 or HS256) minted from a session with narrowed scopes; JWKS, revocation, one-time use. */
export * as AccessTokens from "./AccessTokens.ts"

/** Crash-safe state files: temp (0600, O_EXCL), fsync, rename or link, directory fsync; stale temps removed at start. */
export * as AtomicFile from "./AtomicFile.ts"

/** Canonical base64url (one spelling per byte string): encode, and decode only the canonical form. */
export * as Base64Url from "./Base64Url.ts"

/** A bounded gate (at most N running, M waiting, FIFO, a deadline): beyond it `Overloaded`, a 503. */
export * as Admission from "./Admission.ts"

/** The BootstrapCredentialService: pairing grants, one-time codes a person types or opens as a link. */
export * as BootstrapCredentialService from "./BootstrapCredentialService.ts"

/** What a client says about itself (label, device, OS, browser, address): the one Schema and its limits. */
export * as ClientMetadata from "./ClientMetadata.ts"

/** TEST ONLY: `GATEHOUSE_TEST_CRASH_POINT` names a step of a state write at which the process kills itself. */
export * as CrashPoint from "./CrashPoint.ts"

/** Crockford base32 pairing codes: generate, normalise what a person typed, and format for display. */
export * as Crockford from "./Crockford.ts"

/** DpopReplayStore: the DPoP proof ids each key has used, exactly once across instances. */
export * as DpopReplayStore from "./DpopReplayStore.ts"

/** DpopVerifier: RFC 9449 proofs (htm, htu, iat window, ath, nonces) and the replay check. */
export * as DpopVerifier from "./DpopVerifier.ts"

/** The duration convention: `Duration.Input` checked into `InvalidDuration`, and the `10m` text grammar. */
export * as Durations from "./Durations.ts"

/** Errors every service shares: `StoreError` (a store failed: 503) and `InvalidRequest` (400). */
export * as Errors from "./Errors.ts"

/** The GrantStore interface, the memory store, and the consume rule every store applies. */
export * as GrantStore from "./GrantStore.ts"

/** GuestPromotion: the application's hook that merges a guest's data into the session its browser paired as. */
export * as GuestPromotion from "./GuestPromotion.ts"

/** The GuestSessionService: anonymous guests known by an HttpOnly cookie (only its keyed hash is stored). */
export * as GuestSessionService from "./GuestSessionService.ts"

/** The GuestStore interface and the memory store: guest records keyed by their cookie's hash. */
export * as GuestStore from "./GuestStore.ts"

/** Random bytes, SHA-256, HMAC-SHA256 and constant-time comparison: the only door to `node:crypto` hashing. */
export * as Hashing from "./Hashing.ts"

/** Branded identifiers (`SessionId`, `GrantId`, `McpCredentialId`, `GuestId`) and the `Subject` Schema. */
export * as Ids from "./Ids.ts"

/** The KeyringStore interface: where the signing keyring's keys live (secret store or database). */
export * as KeyringStore from "./KeyringStore.ts"

/** The McpCredentialStore interface: MCP credentials shared by instances on one database (hashes only). */
export * as McpCredentialStore from "./McpCredentialStore.ts"

/** The MCP endpoint URL handed to agents, derived from the bind address (pure helpers). */
export * as McpEndpoint from "./McpEndpoint.ts"

/** McpSessionLink: revoking a session ends the MCP credentials it asked for, here at once and elsewhere within 500 ms. */
export * as McpSessionLink from "./McpSessionLink.ts"

/** The McpSessionRegistry: per-agent-thread bearer credentials for an MCP endpoint. */
export * as McpSessionRegistry from "./McpSessionRegistry.ts"

/** The OAuth 2.1 authorization server of the MCP endpoint: authorization requests, consent, codes, tokens, revocation. */
export * as OAuthAuthorizationServer from "./OAuthAuthorizationServer.ts"

/** Client ID metadata documents: the URL rules, the document Schema, and the fetcher interface. */
export * as OAuthClientDocuments from "./OAuthClientDocuments.ts"

/** OAuth clients: dynamic registration with stateless keyring-signed client ids, and metadata-document clients. */
export * as OAuthClients from "./OAuthClients.ts"

/** The redirect URI rules of OAuth clients (https exact, loopback http any port, private-use schemes). */
export * as OAuthRedirectUri from "./OAuthRedirectUri.ts"

/** The OAuthStore interface and the memory store: grants, hashed codes and refresh tokens. */
export * as OAuthStore from "./OAuthStore.ts"

/** Is a path of the state ours (lstat: no link, our uid, not writable by others)? Loose modes of ours are tightened. */
export * as OwnedPath from "./OwnedPath.ts"

/** The scope grammar `action:type[:id]` plus `admin`, coverage checks, and the standard/administrative bundles. */
export * as Scopes from "./Scopes.ts"

/** ServerAuth: the facade the HTTP layer authenticates requests, sockets and bootstrap exchanges through. */
export * as ServerAuth from "./ServerAuth.ts"

/** ServerAuthPolicy: how the server is reached decides the policy, the cookie names and the Host guard. */
export * as ServerAuthPolicy from "./ServerAuthPolicy.ts"

/** The ServerSecretStore: named binary secrets in the state directory (0600 files) or the environment. */
export * as ServerSecretStore from "./ServerSecretStore.ts"

/** The SessionCredentialService: signed session tokens, idle and absolute expiry, WebSocket tickets. */
export * as SessionCredentialService from "./SessionCredentialService.ts"

/** The SessionStore interface and the memory store: session records and used ticket ids. */
export * as SessionStore from "./SessionStore.ts"

/** The token format shared by sessions, tickets and guests: strict, total parsing and the claim Schemas. */
export * as SessionToken from "./SessionToken.ts"

/** Signing and checking tokens of the shared format with the keyring (every token kind's common steps). */
export * as SignedToken from "./SignedToken.ts"

/** The SigningKeyring: HMAC keys with ids, rotation that logs nobody out, reload on an unknown key id. */
export * as SigningKeyring from "./SigningKeyring.ts"
