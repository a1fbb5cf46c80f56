/**
 * The request and response bodies of every `/api/auth/*` route, as Schemas: the routes decode
 * requests with them and encode responses with them, so the wire format is written down once. A
 * client imports the types (`import type { AuthApi } from "@gatehouse-auth/http"`): a contract change
 * then breaks the client's build, not its users.
 *
 * Every limit comes from the core's Schemas (`Scopes.Scopes`, `ClientMetadata`, `Ids`); none is
 * declared again here. No response schema has a field for a session token except the bearer
 * bootstrap's `accessToken` and the ticket's `ticket`, which are the point of those routes.
 */
import { ClientMetadata, Ids, McpSessionRegistry, Scopes, ServerAuthPolicy } from "@gatehouse-auth/core"
import type { BootstrapCredentialService, SessionCredentialService } from "@gatehouse-auth/core"
import { Schema } from "effect"
import { Code } from "./AuthError.ts"

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** A pairing code (or the desktop credential) as typed: normalised later, at most 256 characters. */
export const Credential = Schema.String.check(Schema.isMaxLength(256))

/** `POST /api/auth/bootstrap` */
export const BootstrapRequest = Schema.Struct({ credential: Credential })
export type BootstrapRequest = typeof BootstrapRequest.Type

/** `POST /api/auth/bootstrap/bearer` */
export const BearerBootstrapRequest = Schema.Struct({
  credential: Credential,
  client: Schema.optional(ClientMetadata.ClientDescription)
})
export type BearerBootstrapRequest = typeof BearerBootstrapRequest.Type

/** `POST /api/auth/pairing-links` */
export const PairingLinkRequest = Schema.Struct({
  ttlSeconds: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))),
  label: Schema.optional(ClientMetadata.Label),
  scopes: Schema.optional(Scopes.Scopes),
  /**
   * The RFC 7638 thumbprint of a DPoP key: the link is then used only by a bearer bootstrap with a
   * proof by that key (the device that will pair is known ahead, by its key).
   */
  proofKeyThumbprint: Schema.optional(Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{43}$/)))
})
export type PairingLinkRequest = typeof PairingLinkRequest.Type

/**
 * The body of logout, ws-ticket and revoke-others: nothing, `{}`, or no body at all. Members are
 * ignored, but an array is not an object here (a bare `Schema.Struct({})` would take `[]`).
 */
export const EmptyRequest = Schema.Struct({}).check(
  Schema.makeFilter((body) => !Array.isArray(body) || "expected an object, not an array", {
    description: "a JSON object"
  })
)

/**
 * `POST /api/auth/tokens`: an access token (a JWT) for some of the calling session's scopes.
 * `expiresInSeconds` defaults to 900 (15 minutes), at most 86 400 (24 hours).
 */
export const AccessTokenRequest = Schema.Struct({
  scopes: Scopes.Scopes.check(Schema.isMinLength(1)),
  expiresInSeconds: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(86_400))),
  oneTimeUse: Schema.optional(Schema.Boolean)
})
export type AccessTokenRequest = typeof AccessTokenRequest.Type

/** `POST /api/auth/mcp-credentials` */
export const McpCredentialRequest = Schema.Struct({
  threadId: McpSessionRegistry.ThreadId,
  providerInstanceId: McpSessionRegistry.ThreadId,
  capabilities: Schema.optional(Scopes.Scopes)
})
export type McpCredentialRequest = typeof McpCredentialRequest.Type

/**
 * `POST /api/auth/guest-session`. `mode` defaults to `lookup_or_create`; `lookup_only` never mints
 * a guest (a miss is a 204). `legacyToken` is a guest bearer token from before the cookie: it
 * re-binds that guest to a new cookie once; longer than a token can be is a 400.
 */
export const GuestSessionRequest = Schema.Struct({
  mode: Schema.optional(Schema.Literals(["lookup_or_create", "lookup_only"])),
  legacyToken: Schema.optional(Schema.String.check(Schema.isMaxLength(4096)))
})
export type GuestSessionRequest = typeof GuestSessionRequest.Type

/**
 * `POST /api/auth/local-proof`: the name of the challenge file the caller wrote (one the server
 * made; anything else is refused like any other failure), and optionally what it says about itself.
 */
export const LocalProofRequest = Schema.Struct({
  fileName: Schema.String.check(Schema.isMaxLength(64)),
  client: Schema.optional(ClientMetadata.ClientDescription)
})
export type LocalProofRequest = typeof LocalProofRequest.Type

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/** Milliseconds since the epoch (finite: JSON, and so the OpenAPI document, has no NaN). */
const Millis = Schema.Finite

/** How the server authenticates (`auth` in the session state). */
export const Descriptor = Schema.Struct({
  policy: ServerAuthPolicy.Policy,
  bootstrapMethods: Schema.Array(Schema.Literals(["pairing-code", "desktop-bootstrap"])),
  sessionMethods: Schema.Array(Schema.Literals(["cookie", "bearer"])),
  sessionCookieName: Schema.String
})
export type Descriptor = typeof Descriptor.Type

/** A session in a response: never its token. `current` only in the session list. */
export const SessionView = Schema.Struct({
  id: Ids.SessionId,
  subject: Ids.Subject,
  scopes: Scopes.Scopes,
  method: Schema.String,
  /** How its token is carried: `cookie` (a browser) or `bearer` (a client holding it); decides its lifetimes. */
  transport: Schema.Literals(["cookie", "bearer"]),
  createdAt: Millis,
  lastSeenAt: Millis,
  expiresAt: Millis,
  client: ClientMetadata.ClientMetadata,
  connected: Schema.Boolean,
  /** The thumbprint (RFC 7638) of the DPoP key a bound session is bound to; absent when unbound. */
  jkt: Schema.optionalKey(Schema.String),
  current: Schema.optionalKey(Schema.Boolean)
})
export type SessionView = typeof SessionView.Type

/** A grant (pairing link) in a list: never its code. */
export const GrantView = Schema.Struct({
  id: Ids.GrantId,
  kind: Schema.Literals(["pairing", "desktop"]),
  label: Schema.NullOr(Schema.String),
  scopes: Scopes.Scopes,
  createdAt: Millis,
  /** `null` for a desktop grant not armed yet. */
  expiresAt: Schema.NullOr(Millis),
  usesRemaining: Schema.Number
})
export type GrantView = typeof GrantView.Type

/** `GET /api/auth/session` */
export const SessionStateResponse = Schema.Struct({
  authenticated: Schema.Boolean,
  session: Schema.optionalKey(SessionView),
  /**
   * `ambiguous_cookie`: the session cookie came twice (another page on this host set one), so
   * neither was used and both are being cleared; the browser should pair again.
   */
  problem: Schema.optionalKey(Schema.Literal("ambiguous_cookie")),
  auth: Descriptor
})
export type SessionStateResponse = typeof SessionStateResponse.Type

/** `POST /api/auth/bootstrap` (the token is in the cookie, never here) */
export const BootstrapResponse = Schema.Struct({ authenticated: Schema.Literal(true), session: SessionView })
export type BootstrapResponse = typeof BootstrapResponse.Type

/** `POST /api/auth/bootstrap/bearer` */
export const BearerBootstrapResponse = Schema.Struct({
  accessToken: Schema.String,
  /** `DPoP` when the session is bound to the proof's key (send it as `Authorization: DPoP`). */
  tokenType: Schema.Literals(["Bearer", "DPoP"]),
  expiresAt: Millis,
  session: SessionView
})
export type BearerBootstrapResponse = typeof BearerBootstrapResponse.Type

/** `POST /api/auth/ws-ticket` */
export const WebSocketTicketResponse = Schema.Struct({ ticket: Schema.String, expiresAt: Millis })
export type WebSocketTicketResponse = typeof WebSocketTicketResponse.Type

/** `POST /api/auth/tokens`: the token once (`no-store`); `expiresAt` in milliseconds. */
export const AccessTokenResponse = Schema.Struct({
  token: Schema.String,
  /** `DPoP` when the token carries `cnf.jkt` (minted with a proof). */
  tokenType: Schema.Literals(["Bearer", "DPoP"]),
  expiresAt: Millis,
  scopes: Schema.Array(Schema.String)
})
export type AccessTokenResponse = typeof AccessTokenResponse.Type

/** `GET /.well-known/jwks.json`: the public keys access tokens are signed with (RFC 7517). */
export const JwksResponse = Schema.Struct({
  keys: Schema.Array(Schema.Struct({
    kty: Schema.String,
    crv: Schema.String,
    x: Schema.String,
    kid: Schema.String,
    alg: Schema.Literal("EdDSA"),
    use: Schema.Literal("sig")
  }))
})
export type JwksResponse = typeof JwksResponse.Type

/** `GET /api/auth/sessions` */
export const SessionListResponse = Schema.Struct({ sessions: Schema.Array(SessionView) })
export type SessionListResponse = typeof SessionListResponse.Type

/** `DELETE /api/auth/sessions/:id`, `/pairing-links/:id` and `/mcp-credentials/:id` */
export const RevokeResponse = Schema.Struct({ revoked: Schema.Boolean })
export type RevokeResponse = typeof RevokeResponse.Type

/** `POST /api/auth/sessions/revoke-others` */
export const RevokeOthersResponse = Schema.Struct({ revokedCount: Schema.Int })
export type RevokeOthersResponse = typeof RevokeOthersResponse.Type

/** `POST /api/auth/pairing-links` (201): the only response that shows a pairing code. */
export const PairingLinkResponse = Schema.Struct({
  id: Ids.GrantId,
  credential: Schema.String,
  url: Schema.String,
  expiresAt: Millis,
  scopes: Scopes.Scopes
})
export type PairingLinkResponse = typeof PairingLinkResponse.Type

/**
 * `GET /api/auth/pairing-links?limit=&cursor=`: the links in creation order, `limit` at a time
 * (1 to 100, default 50), after the link the cursor names. Both are strings, as in a URL.
 */
export const PairingLinkListQuery = Schema.Struct({
  limit: Schema.optionalKey(Schema.String),
  cursor: Schema.optionalKey(Schema.String)
})
export type PairingLinkListQuery = typeof PairingLinkListQuery.Type

export const pairingLinkPage = { defaultLimit: 50, maxLimit: 100 } as const

/**
 * `GET /api/auth/pairing-links`: one page. `nextCursor`, when present, asks for the next one; it
 * is opaque to clients (it names the last link's creation time and id, never a code).
 */
export const PairingLinkListResponse = Schema.Struct({
  links: Schema.Array(GrantView),
  nextCursor: Schema.optionalKey(Schema.String)
})
export type PairingLinkListResponse = typeof PairingLinkListResponse.Type

/** `POST /api/auth/mcp-credentials` (201): the only response that shows an MCP credential. */
export const McpCredentialResponse = Schema.Struct({
  id: Ids.McpCredentialId,
  endpoint: Schema.String,
  authorizationHeader: Schema.String,
  expiresAt: Millis
})
export type McpCredentialResponse = typeof McpCredentialResponse.Type

/** An MCP credential in a list: never its token or its hash. */
export const McpCredentialView = Schema.Struct({
  id: Ids.McpCredentialId,
  threadId: McpSessionRegistry.ThreadId,
  providerInstanceId: McpSessionRegistry.ThreadId,
  capabilities: Scopes.Scopes,
  createdAt: Millis,
  lastUsedAt: Millis,
  /** `min(sliding deadline, absoluteExpiresAt)`; it also dies after the idle timeout unused. */
  expiresAt: Millis,
  absoluteExpiresAt: Millis,
  /** The session that asked for it; revoking that session revokes it. */
  createdBy: Schema.optionalKey(Ids.SessionId)
})
export type McpCredentialView = typeof McpCredentialView.Type

/** `GET /api/auth/mcp-credentials` */
export const McpCredentialListResponse = Schema.Struct({ credentials: Schema.Array(McpCredentialView) })
export type McpCredentialListResponse = typeof McpCredentialListResponse.Type

/**
 * `POST /api/auth/guest-session` (200): the guest and a bearer token for it (24 h, `kind: guest`;
 * never a session). The identity itself is the HttpOnly guest cookie set with this answer.
 */
export const GuestSessionResponse = Schema.Struct({
  guestId: Ids.GuestId,
  token: Schema.String,
  expiresAt: Millis
})
export type GuestSessionResponse = typeof GuestSessionResponse.Type

/**
 * `POST /api/auth/local-proof/challenge`: write `nonce` into `<directory>/<fileName>` (created with
 * mode 0600) before `expiresAt`, then redeem it. The only response that shows a local-proof nonce.
 */
export const LocalProofChallengeResponse = Schema.Struct({
  nonce: Schema.String,
  fileName: Schema.String,
  directory: Schema.String,
  expiresAt: Millis
})
export type LocalProofChallengeResponse = typeof LocalProofChallengeResponse.Type

/** Every error: `{ "error": { "code", "message" } }`. */
export const ErrorResponse = Schema.Struct({ error: Schema.Struct({ code: Code, message: Schema.String }) })
export type ErrorResponse = typeof ErrorResponse.Type

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/** The view of a session; with `currentSid`, whether it is the caller's own. */
export const sessionView = (
  session: SessionCredentialService.SessionInfo,
  currentSid?: Ids.SessionId
): SessionView => ({
  id: session.sid,
  subject: session.subject,
  scopes: session.scopes,
  method: session.method,
  transport: session.transport,
  createdAt: session.createdAt,
  lastSeenAt: session.lastSeenAt,
  expiresAt: session.expiresAt,
  // Through `clip`: a record stored before the plain-text rule still encodes (never a 500).
  client: ClientMetadata.clip(session.client),
  connected: session.connected,
  ...(session.jkt === undefined ? {} : { jkt: session.jkt }),
  ...(currentSid === undefined ? {} : { current: session.sid === currentSid })
})

/** The view of a grant. */
export const grantView = (grant: BootstrapCredentialService.GrantInfo): GrantView => ({
  id: grant.id,
  kind: grant.kind,
  label: grant.label ?? null,
  scopes: grant.scopes,
  createdAt: grant.createdAt,
  expiresAt: grant.expiresAt ?? null,
  usesRemaining: grant.usesRemaining
})

/** The view of an MCP credential (the registry's info never holds the token). */
export const mcpCredentialView = (credential: McpSessionRegistry.McpCredentialInfo): McpCredentialView => ({
  id: credential.id,
  threadId: credential.threadId,
  providerInstanceId: credential.providerInstanceId,
  capabilities: credential.capabilities,
  createdAt: credential.createdAt,
  lastUsedAt: credential.lastUsedAt,
  expiresAt: credential.expiresAt,
  absoluteExpiresAt: credential.absoluteExpiresAt,
  ...(credential.createdBy === undefined ? {} : { createdBy: credential.createdBy })
})
