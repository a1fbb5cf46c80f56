/**
 * Pairing credentials: Crockford base32 (no I, L, O, U), 16 characters = 80 bits, shown as
 * `XXXX-XXXX-XXXX-XXXX`. People type these, so input is forgiving: case-insensitive, spaces and
 * dashes ignored, `I`/`L` read as `1` and `O` as `0`. Normalisation is total: any string gives
 * either the canonical code or `undefined`, never an exception.
 */
import { randomBytes } from "./Hashing.ts"

export const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** Characters in a generated credential (80 bits). */
export const credentialLength = 16

/** Longest credential accepted (a desktop shell may supply a longer one). */
export const maxCredentialLength = 64

/** Raw input longer than this is rejected before any work is done on it. */
export const maxInputLength = 256

const canonical = /^[0-9A-HJKMNP-TV-Z]+$/
const asciiAlphanumeric = /^[0-9A-Za-z]*$/

/** 16 random Crockford characters: 10 bytes, 5 bits per character. */
export const generate = (): string => {
  const bytes = randomBytes(10)
  let bits = 0
  let value = 0
  let out = ""
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += alphabet[(value >>> bits) & 31]
    }
    value &= (1 << bits) - 1
  }
  return out
}

/** `ABCDEFGHJKMNPQRS` -> `ABCD-EFGH-JKMN-PQRS`. */
export const format = (code: string): string => code.match(/.{1,4}/g)?.join("-") ?? ""

/**
 * Canonical form of what a person typed, or `undefined` when it cannot be a credential.
 * Accepts 16 to 64 characters after removing whitespace and dashes.
 */
export const normalize = (input: string): string | undefined => {
  if (typeof input !== "string" || input.length > maxInputLength) return undefined
  const compact = input.replace(/[\s-]+/g, "")
  // ASCII only before case folding: `toUpperCase` maps some non-ASCII letters onto ASCII ones.
  if (!asciiAlphanumeric.test(compact)) return undefined
  const code = compact
    .toUpperCase()
    .replace(/[IL]/g, "1")
    .replace(/O/g, "0")
  if (code.length < credentialLength || code.length > maxCredentialLength) return undefined
  return canonical.test(code) ? code : undefined
}
