/**
 * Canonical base64url (RFC 4648 §5, no padding). Node's decoder is lenient: it skips foreign
 * characters and ignores non-zero trailing bits, so two different strings can decode to the same
 * bytes. Tokens must have exactly one spelling, so decoding here accepts only the canonical one.
 */
import { Option } from "effect"

const alphabet = /^[A-Za-z0-9_-]*$/

export const encode = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url")

export const encodeString = (text: string): string => Buffer.from(text, "utf8").toString("base64url")

/** Decodes canonical base64url; `undefined` for anything else (hot-path friendly). */
export const decodeOrUndefined = (input: string): Buffer | undefined => {
  if (input.length % 4 === 1 || !alphabet.test(input)) return undefined
  const bytes = Buffer.from(input, "base64url")
  // Re-encoding catches non-zero padding bits ("AB" and "AA" would otherwise both mean [0]).
  return bytes.toString("base64url") === input ? bytes : undefined
}

export const decode = (input: string): Option.Option<Uint8Array> => Option.fromNullishOr(decodeOrUndefined(input))
