/**
 * The token format shared by sessions, WebSocket tickets and guest tokens:
 *
 *   v1.<kid>.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "v1.<kid>.<claims>"))>
 *
 * Parsing is strict and total: exactly four segments, canonical base64url, a 32-byte signature
 * (43 characters, compared as text against the canonical encoding of the expected one), claims
 * that pass their Schema. Anything else is `undefined`, never an exception. Times in claims are
 * milliseconds since the epoch.
 */
import { Schema } from "effect"
import * as Base64Url from "./Base64Url.ts"
import { SessionId, Subject } from "./Ids.ts"
import { Scopes } from "./Scopes.ts"

export const version = "v1"

/** Longest token accepted; longer input is rejected before any work. */
export const maxLength = 4096

const Id = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/))
const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const SessionClaims = Schema.Struct({
  kind: Schema.Literal("session"),
  sid: SessionId,
  sub: Subject,
  scopes: Scopes,
  method: Schema.String.check(Schema.isMaxLength(64)),
  iat: Millis,
  exp: Millis
})
export type SessionClaims = typeof SessionClaims.Type

export const TicketClaims = Schema.Struct({
  kind: Schema.Literal("ws-ticket"),
  sid: SessionId,
  /** What the socket may do: at most the scopes of the session as it was when the ticket was made. */
  scopes: Scopes,
  jti: Id,
  iat: Millis,
  exp: Millis
})
export type TicketClaims = typeof TicketClaims.Type

export const GuestClaims = Schema.Struct({
  kind: Schema.Literal("guest"),
  gid: Id,
  iat: Millis,
  exp: Millis
})
export type GuestClaims = typeof GuestClaims.Type

export const Claims = Schema.Union([SessionClaims, TicketClaims, GuestClaims])
export type Claims = typeof Claims.Type

const decodeClaimsOption = Schema.decodeUnknownOption(Claims)

export interface ParsedToken {
  readonly kid: string
  /** The signed part: `v1.<kid>.<claims>`. */
  readonly signingInput: string
  readonly payload: string
  /** base64url; checked by the keyring against the canonical encoding of the expected HMAC. */
  readonly signature: string
}

const kidPattern = /^[A-Za-z0-9_-]{1,64}$/
const prefix = `${version}.`

/** Splits a token into its parts, checking structure only (not the signature). */
export const parse = (token: string): ParsedToken | undefined => {
  if (typeof token !== "string" || token.length > maxLength || !token.startsWith(prefix)) return undefined
  const kidEnd = token.indexOf(".", prefix.length)
  const payloadEnd = token.indexOf(".", kidEnd + 1)
  // Exactly four segments: the signature is the last 43 characters and holds no dot.
  if (kidEnd < 0 || payloadEnd !== token.length - 44 || payloadEnd <= kidEnd + 1) return undefined
  const kid = token.slice(prefix.length, kidEnd)
  const signature = token.slice(payloadEnd + 1)
  if (!kidPattern.test(kid) || signature.includes(".")) return undefined
  return { kid, signingInput: token.slice(0, payloadEnd), payload: token.slice(kidEnd + 1, payloadEnd), signature }
}

/** Decodes the claims segment: canonical base64url, JSON, then the claims Schema. */
export const decodeClaims = (payload: string): Claims | undefined => {
  const bytes = Base64Url.decodeOrUndefined(payload)
  if (bytes === undefined) return undefined
  let json: unknown
  try {
    json = JSON.parse(bytes.toString("utf8"))
  } catch {
    return undefined
  }
  const claims = decodeClaimsOption(json)
  return claims._tag === "Some" ? claims.value : undefined
}

/** `v1.<kid>.<claims>`: what gets signed. */
export const signingInput = (kid: string, claims: Claims): string =>
  `${version}.${kid}.${Base64Url.encodeString(JSON.stringify(claims))}`

/** The token: the signing input and its base64url signature. */
export const assemble = (input: string, signature: string): string => `${input}.${signature}`
