/**
 * The token format shared by sessions, WebSocket tickets and guest tokens:
 *
 *   v1.<kid>.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "v1.<kid>.<claims>"))>
 *
 * Parsing is strict and total: exactly four segments, canonical base64url, a 32-byte signature,
 * claims that pass their Schema. Anything else is `undefined`, never an exception. Times in claims
 * are milliseconds since the epoch.
 */
import { Schema } from "effect"
import * as Base64Url from "./Base64Url.ts"

export const version = "v1"

/** Longest token accepted; longer input is rejected before any work. */
export const maxLength = 4096

const Id = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/))
const Millis = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const SessionClaims = Schema.Struct({
  kind: Schema.Literal("session"),
  sid: Id,
  sub: Schema.String.check(Schema.isMaxLength(256)),
  scopes: Schema.Array(Schema.String.check(Schema.isMaxLength(256))).check(Schema.isMaxLength(64)),
  method: Schema.String.check(Schema.isMaxLength(64)),
  iat: Millis,
  exp: Millis
})
export type SessionClaims = typeof SessionClaims.Type

export const TicketClaims = Schema.Struct({
  kind: Schema.Literal("ws-ticket"),
  sid: Id,
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
  readonly signature: Uint8Array
}

const kidPattern = /^[A-Za-z0-9_-]{1,64}$/

/** Splits a token into its parts, checking structure only (not the signature). */
export const parse = (token: string): ParsedToken | undefined => {
  if (typeof token !== "string" || token.length > maxLength) return undefined
  const parts = token.split(".")
  if (parts.length !== 4) return undefined
  const [tokenVersion, kid, payload, signaturePart] = parts as [string, string, string, string]
  if (tokenVersion !== version || !kidPattern.test(kid) || payload.length === 0) return undefined
  const signature = Base64Url.decodeOrUndefined(signaturePart)
  if (signature === undefined || signature.byteLength !== 32) return undefined
  return { kid, signingInput: `${tokenVersion}.${kid}.${payload}`, payload, signature }
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

export const assemble = (input: string, signature: Uint8Array): string => `${input}.${Base64Url.encode(signature)}`
