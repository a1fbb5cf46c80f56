/**
 * The identifiers that cross package boundaries, each a branded Schema so that one kind cannot be
 * passed where another is meant: `sessions.revoke(grant.id)` does not type-check.
 *
 * All are random base64url strings minted by the services (`Hashing.randomId`); the pattern is the
 * one every store, token and route accepts. Input from outside (a path parameter, a CLI argument)
 * becomes an id only through the Schema (`SessionId.makeOption(text)`), so a malformed one never
 * reaches a store.
 */
import { Schema } from "effect"
import { randomId } from "./Hashing.ts"

const idPattern = /^[A-Za-z0-9_-]{1,64}$/

const IdText = Schema.String.check(Schema.isPattern(idPattern, { description: "1 to 64 base64url characters" }))

/** A session's id (`sid` in its token). */
export const SessionId = IdText.pipe(Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/** A pairing grant's id (what lists show and revoke takes; never the pairing code). */
export const GrantId = IdText.pipe(Schema.brand("GrantId"))
export type GrantId = typeof GrantId.Type

/**
 * An MCP credential's id (what the list shows and revoke takes; never the token, and not derived
 * from it: `mcp_` and 96 random bits).
 */
export const McpCredentialId = IdText.pipe(Schema.brand("McpCredentialId"))
export type McpCredentialId = typeof McpCredentialId.Type

/**
 * A guest's id (`gid` in its token; what the CLI lists and revokes, and what the promotion hook is
 * handed). Never the guest cookie, and not derived from it: `guest_` and 96 random bits.
 */
export const GuestId = IdText.pipe(Schema.brand("GuestId"))
export type GuestId = typeof GuestId.Type

/** A fresh random session id (96 bits). */
export const newSessionId = (): SessionId => randomId() as SessionId

/** A fresh random grant id (96 bits). */
export const newGrantId = (): GrantId => randomId() as GrantId

/** A fresh random MCP credential id: `mcp_` and 96 random bits. */
export const newMcpCredentialId = (): McpCredentialId => `mcp_${randomId()}` as McpCredentialId

/** A fresh random guest id: `guest_` and 96 random bits. */
export const newGuestId = (): GuestId => `guest_${randomId()}` as GuestId

/** Who a credential stands for: 1 to 256 characters (the application decides what they mean). */
export const Subject = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(256))

export const isSubject = Schema.is(Subject)

/** What a caller is told when `Subject` refuses a value. */
export const subjectProblem = "subject must be 1 to 256 characters"
