/**
 * The few primitives every service shares: random bytes, SHA-256, HMAC-SHA256 and a
 * constant-time comparison. All from `node:crypto`; nothing here is an Effect because these are
 * synchronous, total and used on hot paths.
 */
import * as Crypto from "node:crypto"

export const randomBytes = (size: number): Uint8Array => new Uint8Array(Crypto.randomBytes(size))

export const sha256 = (data: string | Uint8Array): Buffer => Crypto.createHash("sha256").update(data).digest()

export const sha256Hex = (data: string | Uint8Array): string => sha256(data).toString("hex")

/** SHA-256 as base64url, one native call (the fastest way to key a map by a secret's digest). */
export const sha256Base64Url = (data: string): string => Crypto.hash("sha256", data, "base64url")

export const hmacSha256 = (key: Crypto.KeyObject | Uint8Array, data: string | Uint8Array): Buffer =>
  Crypto.createHmac("sha256", key).update(data).digest()

/** HMAC-SHA256 as canonical base64url (43 characters). */
export const hmacSha256Base64Url = (key: Crypto.KeyObject | Uint8Array, data: string | Uint8Array): string =>
  Crypto.createHmac("sha256", key).update(data).digest("base64url")

/** Compares two byte strings in time that depends only on their lengths. */
export const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && Crypto.timingSafeEqual(a, b)

/** Constant-time comparison of two strings (UTF-8); different lengths compare unequal. */
export const constantTimeEqualString = (a: string, b: string): boolean =>
  constantTimeEqual(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))

/** A random identifier: `bytes` random bytes as base64url (12 bytes -> 16 characters, 96 bits). */
export const randomId = (bytes = 12): string => Buffer.from(randomBytes(bytes)).toString("base64url")
