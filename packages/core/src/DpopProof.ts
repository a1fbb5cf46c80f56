/**
 * The pure parts of a DPoP proof (RFC 9449): splitting the compact JWS with canonical base64url
 * only, the `htu` normalisation, and the RFC 7638 key thumbprint. No Effect, no clock, no keys:
 * `DpopVerifier` puts these together with the time window, the nonces and the replay store.
 *
 * - Every segment must be canonical base64url (`Base64Url.decodeOrUndefined` re-encodes and
 *   compares), so one proof has exactly one spelling: a mutated byte is always a different proof.
 * - `normaliseUrl` is RFC 3986 6.2.2 (syntax-based: lower-case scheme and host, upper-case
 *   percent-encoding hex, unreserved characters decoded, dot segments removed) and 6.2.3
 *   (scheme-based: default port dropped, empty path is `/`), for `http` and `https` only. Query and
 *   fragment are dropped (RFC 9449 4.3 step 9). Characters a URI may not hold raw are
 *   percent-encoded (UTF-8), so the request line and the claim compare the same way whichever of
 *   them spelled a character raw. Userinfo is refused: no proof names one.
 * - `thumbprint` is the SHA-256 of the required members of the public key in lexicographic order
 *   with no whitespace, base64url: what `cnf.jkt` of a bound token holds.
 */
import * as Base64Url from "./Base64Url.ts"
import { sha256Base64Url } from "./Hashing.ts"

/** The three decoded parts of a compact JWS, and the text the signature covers. */
export interface CompactJws {
  readonly header: unknown
  readonly payload: unknown
  readonly signature: Buffer
  /** `base64url(header) "." base64url(payload)`: the signing input. */
  readonly signingInput: string
}

const parseJsonObject = (bytes: Buffer): Record<string, unknown> | undefined => {
  let value: unknown
  try {
    value = JSON.parse(bytes.toString("utf8"))
  } catch {
    return undefined
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined
}

/**
 * Three canonical base64url segments whose first two are JSON objects; `undefined` for anything
 * else (no exception escapes, whatever the input).
 */
export const parseCompact = (text: string): CompactJws | undefined => {
  const first = text.indexOf(".")
  const second = text.indexOf(".", first + 1)
  // Three non-empty segments: an unsigned JWS (empty signature) is not a proof.
  if (first <= 0 || second <= first + 1 || second === text.length - 1 || text.indexOf(".", second + 1) >= 0) {
    return undefined
  }
  const headerBytes = Base64Url.decodeOrUndefined(text.slice(0, first))
  const payloadBytes = Base64Url.decodeOrUndefined(text.slice(first + 1, second))
  const signature = Base64Url.decodeOrUndefined(text.slice(second + 1))
  if (headerBytes === undefined || payloadBytes === undefined || signature === undefined) return undefined
  const header = parseJsonObject(headerBytes)
  const payload = parseJsonObject(payloadBytes)
  if (header === undefined || payload === undefined) return undefined
  return { header, payload, signature, signingInput: text.slice(0, second) }
}

/** A public key a proof may carry, reduced to the members that define it. */
export type PublicKeyJwk =
  | { readonly kty: "EC"; readonly crv: "P-256"; readonly x: string; readonly y: string }
  | { readonly kty: "OKP"; readonly crv: "Ed25519"; readonly x: string }

/** JWK members that belong to a private or symmetric key (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037). */
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const

const coordinate = (value: unknown): value is string =>
  typeof value === "string" && Base64Url.decodeOrUndefined(value)?.byteLength === 32

/**
 * The header's `jwk` as a public key of the type the algorithm pins, or why not: `"private"` when
 * it carries private material, `"bad"` for anything else that is not exactly that key type.
 */
export const publicKeyFor = (
  alg: "ES256" | "Ed25519" | "EdDSA",
  jwk: unknown
): PublicKeyJwk | "private" | "bad" => {
  if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) return "bad"
  const members = jwk as Record<string, unknown>
  for (const member of privateMembers) if (member in members) return "private"
  // An `alg` inside the key, when present, must agree with the header's (RFC 7517 4.4).
  if (members.alg !== undefined && members.alg !== alg) return "bad"
  if (members.use !== undefined && members.use !== "sig") return "bad"
  if (alg === "ES256") {
    if (members.kty !== "EC" || members.crv !== "P-256" || !coordinate(members.x) || !coordinate(members.y)) {
      return "bad"
    }
    return { kty: "EC", crv: "P-256", x: members.x, y: members.y }
  }
  if (members.kty !== "OKP" || members.crv !== "Ed25519" || !coordinate(members.x)) return "bad"
  return { kty: "OKP", crv: "Ed25519", x: members.x }
}

/** RFC 7638: SHA-256 over the required members in lexicographic order, base64url (43 characters). */
export const thumbprint = (jwk: PublicKeyJwk): string =>
  sha256Base64Url(
    jwk.kty === "EC"
      ? `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`
      : `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}"}`
  )

// --- htu -------------------------------------------------------------------------------------

const defaultPorts: Readonly<Record<string, string>> = { http: "80", https: "443" }

/** RFC 3986 2.3. */
const unreserved = /^[A-Za-z0-9\-._~]$/
/** Characters a path or reg-name may hold raw: unreserved, sub-delims, ":" and "@" (pchar). */
const pathRaw = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/
const hostRaw = /^[A-Za-z0-9\-._~!$&'()*+,;=]$/
const hex = /^[0-9A-Fa-f]{2}$/

/**
 * Percent-encoding normalised: a valid triplet in upper case, decoded when it stands for an
 * unreserved character; any character not allowed raw percent-encoded as UTF-8 (a `%` that starts
 * no triplet included).
 */
const normalisePercent = (text: string, raw: RegExp): string => {
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (char === "%" && hex.test(text.slice(i + 1, i + 3))) {
      const code = Number.parseInt(text.slice(i + 1, i + 3), 16)
      const decoded = String.fromCharCode(code)
      out += unreserved.test(decoded) ? decoded : `%${text.slice(i + 1, i + 3).toUpperCase()}`
      i += 2
    } else if (raw.test(char)) {
      out += char
    } else {
      const codePoint = text.codePointAt(i)!
      const whole = String.fromCodePoint(codePoint)
      i += whole.length - 1
      for (const byte of Buffer.from(whole, "utf8")) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
    }
  }
  return out
}

/** RFC 3986 5.2.4 remove_dot_segments. */
export const removeDotSegments = (path: string): string => {
  let input = path
  const output: Array<string> = []
  while (input.length > 0) {
    if (input.startsWith("../")) input = input.slice(3)
    else if (input.startsWith("./")) input = input.slice(2)
    else if (input.startsWith("/./")) input = input.slice(2)
    else if (input === "/.") input = "/"
    else if (input.startsWith("/../")) {
      input = input.slice(3)
      output.pop()
    } else if (input === "/..") {
      input = "/"
      output.pop()
    } else if (input === "." || input === "..") input = ""
    else {
      const next = input.indexOf("/", 1)
      const segment = next < 0 ? input : input.slice(0, next)
      output.push(segment)
      input = input.slice(segment.length)
    }
  }
  return output.join("")
}

const uriShape = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/s
const ipLiteral = /^\[[0-9A-Fa-f:.]+\]$/
const portShape = /^[0-9]{0,5}$/

/**
 * The normal form of an absolute `http`/`https` URL without query and fragment, or `undefined`
 * when it is not one (another scheme, userinfo, no host, a bad port). Idempotent.
 */
export const normaliseUrl = (url: string): string | undefined => {
  // Query and fragment are dropped first: a long query never makes the URL unusable, and the
  // length bound applies to what is compared.
  const end = url.search(/[?#]/)
  const compared = end < 0 ? url : url.slice(0, end)
  if (compared.length > 8192) return undefined
  const match = uriShape.exec(compared)
  if (match === null) return undefined
  const scheme = match[1]!.toLowerCase()
  const defaultPort = defaultPorts[scheme]
  if (defaultPort === undefined) return undefined
  const authority = match[2]!
  if (authority.includes("@")) return undefined
  // The port is what follows the last ":" outside an IPv6 literal.
  const close = authority.lastIndexOf("]")
  const colon = authority.indexOf(":", close + 1)
  const hostText = colon < 0 ? authority : authority.slice(0, colon)
  const portText = colon < 0 ? "" : authority.slice(colon + 1)
  if (!portShape.test(portText)) return undefined
  const portNumber = portText === "" ? undefined : Number.parseInt(portText, 10)
  if (portNumber !== undefined && portNumber > 65535) return undefined
  const port = portNumber === undefined || String(portNumber) === defaultPort ? "" : `:${portNumber}`
  let host: string
  if (hostText.startsWith("[")) {
    if (!ipLiteral.test(hostText)) return undefined
    host = hostText.toLowerCase()
  } else {
    // Lower-case after percent normalisation, so decoded letters are lowered too; the hex of the
    // triplets that stay is upper case again afterwards.
    host = normalisePercent(hostText, hostRaw).toLowerCase().replace(/%[0-9a-f]{2}/g, (t) => t.toUpperCase())
  }
  if (host.length === 0) return undefined
  const rawPath = match[3]!
  const path = rawPath === "" ? "/" : removeDotSegments(normalisePercent(rawPath, pathRaw))
  return `${scheme}://${host}${port}${path === "" ? "/" : path}`
}
