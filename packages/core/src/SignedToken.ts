/**
 * Signing and checking tokens in the `SessionToken` format with the `SigningKeyring`: the two steps
 * every kind of token (session, WebSocket ticket, guest) shares. Which kind is wanted, and whether
 * it has expired, is the caller's rule.
 */
import { Effect, Redacted } from "effect"
import * as SessionToken from "./SessionToken.ts"
import type { SigningKeyringShape } from "./SigningKeyring.ts"

/**
 * `claims` signed with the keyring's current key (the `kid` in the token is the key that signed
 * it), as a `Redacted` labelled `<kind>-token`. Synchronous: the key is already in memory.
 */
export const signUnsafe = (keyring: SigningKeyringShape, claims: SessionToken.Claims): Redacted.Redacted<string> => {
  const signed = keyring.signUnsafe((kid) => SessionToken.signingInput(kid, claims))
  return Redacted.make(SessionToken.assemble(signed.data, signed.signature), { label: `${claims.kind}-token` })
}

/** `signUnsafe` as an Effect. */
export const sign = (
  keyring: SigningKeyringShape,
  claims: SessionToken.Claims
): Effect.Effect<Redacted.Redacted<string>> => Effect.sync(() => signUnsafe(keyring, claims))

/**
 * The claims of a well-formed token whose signature a key of the keyring (loaded, or found by a
 * reload) vouches for; `undefined` for anything else. Never fails: hostile text is a miss.
 */
export const verify = (keyring: SigningKeyringShape, text: string): Effect.Effect<SessionToken.Claims | undefined> => {
  const parsed = SessionToken.parse(text)
  if (parsed === undefined) return Effect.succeed(undefined)
  return Effect.map(
    keyring.verify(parsed.kid, parsed.signingInput, parsed.signature),
    (valid) => valid ? SessionToken.decodeClaims(parsed.payload) : undefined
  )
}
