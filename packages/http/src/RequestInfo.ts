/**
 * Pure readings of a request: is it HTTPS, who sent it, which credential does it present, may its
 * Host and Origin be trusted. Total functions: hostile headers give `undefined` or `false`, never
 * an exception.
 */
import type { ClientMetadata } from "@gatehouse-auth/core"
import { ServerAuthPolicy } from "@gatehouse-auth/core"
import { Option, Redacted } from "effect"
import type { HttpServerRequest } from "effect/http"

/** Longest credential read from a header or cookie; longer values are treated as absent-and-bad. */
export const maxCredentialLength = 4096

/**
 * The scheme a trusted proxy vouched for, else the transport's: Node's socket says whether it is
 * TLS without building a URL (`originalUrl` does, on every call); other sources fall back to it.
 */
export const isHttps = (request: HttpServerRequest.HttpServerRequest): boolean => {
  if (request.protocol !== undefined) return request.protocol === "https"
  const socket = (request.source as { readonly socket?: { readonly encrypted?: boolean } }).socket
  return socket !== undefined ? socket.encrypted === true : /^https:/i.test(request.originalUrl)
}

/** The client's address: the socket's, or the one a trusted proxy vouched for. */
export const clientAddress = (request: HttpServerRequest.HttpServerRequest): string =>
  Option.getOrElse(request.remoteAddress, () => "unknown")

export const unsafeMethods: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"])

export const isUnsafeMethod = (request: HttpServerRequest.HttpServerRequest): boolean =>
  unsafeMethods.has(request.method)

const token68 = /^[A-Za-z0-9\-._~+/]+=*$/

export type Presented =
  | { readonly _tag: "None" }
  | { readonly _tag: "Malformed" }
  /** The cookie name came more than once: another page on this host set one (cookie tossing). */
  | { readonly _tag: "Ambiguous" }
  | { readonly _tag: "Token"; readonly token: Redacted.Redacted<string> }

const none: Presented = { _tag: "None" }
const malformed: Presented = { _tag: "Malformed" }
const ambiguous: Presented = { _tag: "Ambiguous" }

const asToken = (value: string): Presented =>
  value.length === 0 || value.length > maxCredentialLength || !token68.test(value)
    ? malformed
    : { _tag: "Token", token: Redacted.make(value, { label: "token" }) }

/** `Authorization: Bearer <token68>` (scheme case-insensitive, RFC 6750 §2.1). */
export const bearerToken = (request: HttpServerRequest.HttpServerRequest): Presented => {
  const header = request.headers["authorization"]
  if (header === undefined) return none
  const match = /^Bearer +(\S+) *$/i.exec(header)
  return match === null ? malformed : asToken(match[1]!)
}

/** `Authorization: DPoP <token68>` (RFC 9449 section 7.1; scheme case-insensitive). */
export const dpopToken = (request: HttpServerRequest.HttpServerRequest): Presented => {
  const header = request.headers["authorization"]
  if (header === undefined) return none
  const match = /^DPoP +(\S+) *$/i.exec(header)
  return match === null ? none : asToken(match[1]!)
}

/** Whether `Authorization` names the DPoP scheme (then `bearerToken` does not apply). */
export const isDpopScheme = (request: HttpServerRequest.HttpServerRequest): boolean =>
  /^DPoP(?: |$)/i.test(request.headers["authorization"] ?? "")

/**
 * Every `DPoP` header value. Node joins repeated headers with `, `, and a compact JWS holds no
 * comma, so splitting gives each one back: two headers are two proofs (which the verifier refuses).
 */
export const dpopProofs = (request: HttpServerRequest.HttpServerRequest): ReadonlyArray<string> => {
  const header = request.headers["dpop"]
  return header === undefined ? [] : header.split(",").map((part) => part.trim())
}

/**
 * The absolute URL the client addressed, for a proof's `htu`: the public origin when configured
 * (behind a TLS proxy the socket's scheme and host are not the client's), else the scheme a
 * trusted proxy vouched for (or the socket's) and the Host header; then the path and query.
 */
export const publicUrl = (request: HttpServerRequest.HttpServerRequest, publicOrigin?: string | undefined): string => {
  const origin = publicOrigin ?? ownOrigin(request) ?? "http://invalid"
  const path = request.url.startsWith("/") ? request.url : `/${request.url}`
  return `${origin}${path}`
}

/**
 * How many `name=value` pairs named exactly `name` a raw `Cookie` header holds. Browsers send one
 * pair per cookie, and cookies are not isolated by port: a page on any other port of this host can
 * set a second cookie of the same name (with a longer `Path`, which browsers send first).
 */
export const cookieOccurrences = (header: string | undefined, name: string): number => {
  if (header === undefined || !header.includes(name)) return 0
  let count = 0
  for (const pair of header.split(";")) {
    const equals = pair.indexOf("=")
    if ((equals < 0 ? pair : pair.slice(0, equals)).trim() === name) count++
  }
  return count
}

/**
 * The cookie `name`: `None`, `Malformed`, `Ambiguous` when it came more than once (which of the
 * two is ours cannot be told, so neither is used), or the token.
 */
export const cookieValue = (request: HttpServerRequest.HttpServerRequest, name: string): Presented => {
  const value = request.cookies[name]
  if (value === undefined) return none
  return cookieOccurrences(request.headers["cookie"], name) > 1 ? ambiguous : asToken(value)
}

/** Longest path a clearing covers, in segments: deeper than any route Gatehouse or an app uses. */
const maxClearedSegments = 8

/**
 * The `Path` values a cookie that applies to `pathname` can have been set with: `/` and every
 * prefix of the path, with and without a trailing slash. Expiring the name on each removes a
 * tossed cookie whatever path it was set on (a cookie is deleted only by its own name and path).
 */
export const cookiePathsFor = (pathname: string): ReadonlyArray<string> => {
  const paths = ["/"]
  let prefix = ""
  for (const segment of pathname.split("?")[0]!.split("/").filter((part) => part.length > 0)) {
    // Only what is safe inside a `Path` attribute; the clearing stops at anything else.
    if (paths.length > 2 * maxClearedSegments || !/^[A-Za-z0-9._~%+-]+$/.test(segment)) break
    prefix = `${prefix}/${segment}`
    paths.push(prefix, `${prefix}/`)
  }
  return paths
}

/** The host name in a Host header (`[::1]:3773` -> `[::1]`), lower-cased; undefined if malformed. */
export const hostName = (host: string | undefined): string | undefined => {
  if (host === undefined) return undefined
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/.exec(host.trim())
  return match === null ? undefined : match[1]!.toLowerCase()
}

const loopbackHostNames: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"])

/** A bound address as a Host header names it: IPv6 in brackets, lower-cased. */
const asHostName = (address: string): string => {
  const name = address.trim().toLowerCase()
  return name.includes(":") && !name.startsWith("[") ? `[${name}]` : name
}

/**
 * DNS-rebinding guard: on a loopback policy the Host must be localhost, 127.0.0.1 or [::1], or the
 * loopback address the server is bound to (`boundHost`, e.g. `127.0.0.2`: the host of its own
 * pairing URL). A bound address that is not loopback adds nothing, so no foreign name gets in.
 */
export const isLoopbackHostHeader = (host: string | undefined, boundHost?: string | undefined): boolean => {
  const name = hostName(host)
  if (name === undefined) return false
  if (loopbackHostNames.has(name)) return true
  return boundHost !== undefined && ServerAuthPolicy.isLoopbackHost(boundHost.trim()) &&
    name === asHostName(boundHost)
}

/**
 * The request's own origin, as a browser on this server's pages would send it:
 * `<scheme>://<Host header>`.
 */
export const ownOrigin = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const host = request.headers["host"]
  if (host === undefined || hostName(host) === undefined) return undefined
  return `${isHttps(request) ? "https" : "http"}://${host.trim().toLowerCase()}`
}

/**
 * An absent Origin passes (not a browser cross-site request); a present one must be the server's
 * own (`publicOrigin` when configured, else derived from Host) or listed.
 */
export const isOriginAllowed = (
  request: HttpServerRequest.HttpServerRequest,
  allowedOrigins: ReadonlyArray<string>,
  publicOrigin?: string | undefined
): boolean => {
  const origin = request.headers["origin"]
  if (origin === undefined) return true
  const normalized = origin.trim().toLowerCase()
  return normalized === (publicOrigin ?? ownOrigin(request)) ||
    allowedOrigins.some((allowed) => allowed.toLowerCase() === normalized)
}

/** A rough description of the client from its User-Agent, for the session list. */
export const describeClient = (request: HttpServerRequest.HttpServerRequest): ClientMetadata.ClientMetadata => {
  const agent = (request.headers["user-agent"] ?? "").slice(0, 512)
  const pick = (pairs: ReadonlyArray<readonly [RegExp, string]>) => pairs.find(([pattern]) => pattern.test(agent))?.[1]
  const os = pick([
    [/android/i, "Android"],
    [/iphone|ipad|ipod/i, "iOS"],
    [/windows/i, "Windows"],
    [/mac os x|macintosh/i, "macOS"],
    [/cros/i, "ChromeOS"],
    [/linux/i, "Linux"]
  ])
  const browser = pick([[/edg\//i, "Edge"], [/firefox\//i, "Firefox"], [/chrom(e|ium)\//i, "Chrome"], [
    /safari\//i,
    "Safari"
  ], [/curl\//i, "curl"]])
  const deviceType = /ipad|tablet/i.test(agent)
    ? "tablet"
    : /mobile|iphone|android/i.test(agent)
    ? "mobile"
    : agent === ""
    ? undefined
    : "desktop"
  const ip = Option.getOrUndefined(request.remoteAddress)
  return Object.fromEntries(Object.entries({ os, browser, deviceType, ip }).filter(([, value]) => value !== undefined))
}
