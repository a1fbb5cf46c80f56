/**
 * The redirect URI rules of the OAuth authorization server (pure: no Effect, no I/O).
 *
 * A client may register three kinds of redirect URI, and each is matched in its own way:
 *
 * - `https://host/path`: matched exactly as registered;
 * - loopback `http` (`127.0.0.1`, `[::1]`, `localhost`): exactly as registered except the port,
 *   which is free (RFC 8252 §7.3: a native client listens on whatever port it got);
 * - a private-use scheme named after a reverse domain (`com.example.app:/callback`, RFC 8252
 *   §7.1): matched exactly as registered.
 *
 * Nothing else is accepted (plain `http` to another host, `javascript:`, `data:`, a scheme without
 * a dot), and no redirect URI may carry a fragment or userinfo.
 */

/** Longest redirect URI accepted, in characters. */
export const maxLength = 512

const loopbackHosts: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]", "localhost"])

/** A private-use scheme: a reverse domain name with at least one dot (`com.example.app`). */
const privateScheme = /^[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+$/

const parse = (text: string): URL | undefined => {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

export type Kind = "https" | "loopback" | "private-use"

/** The kind of a registrable redirect URI, or the reason it cannot be registered. */
export const classify = (uri: string): { readonly kind: Kind } | { readonly problem: string } => {
  if (uri.length === 0 || uri.length > maxLength) {
    return { problem: `redirect URIs must be 1 to ${maxLength} characters` }
  }
  if (uri.includes("#")) return { problem: "a redirect URI must not carry a fragment" }
  if (/[\u0000-\u0020\u007f-\uffff]/.test(uri)) return { problem: "a redirect URI must be plain ASCII without spaces" }
  const url = parse(uri)
  if (url === undefined) return { problem: "a redirect URI must be an absolute URI" }
  if (url.username !== "" || url.password !== "") return { problem: "a redirect URI must not carry userinfo" }
  const scheme = url.protocol.slice(0, -1)
  if (scheme === "https") {
    return url.hostname === "" ? { problem: "an https redirect URI needs a host" } : { kind: "https" }
  }
  if (scheme === "http") {
    return loopbackHosts.has(url.hostname)
      ? { kind: "loopback" }
      : { problem: "plain http redirect URIs are allowed only to 127.0.0.1, [::1] or localhost" }
  }
  if (privateScheme.test(scheme)) return { kind: "private-use" }
  return { problem: "a redirect URI must be https, loopback http, or a reverse-domain private-use scheme" }
}

/** Whether `uri` may be registered. */
export const isRegistrable = (uri: string): boolean => "kind" in classify(uri)

/**
 * Whether the `presented` redirect URI (from an authorization request) is the `registered` one:
 * the same string, or, for a loopback `http` URI, the same but for the port.
 */
export const matches = (registered: string, presented: string): boolean => {
  if (registered === presented) return true
  const kind = classify(registered)
  if (!("kind" in kind) || kind.kind !== "loopback") return false
  if (presented.length > maxLength || presented.includes("#")) return false
  const a = parse(registered)
  const b = parse(presented)
  if (a === undefined || b === undefined || b.username !== "" || b.password !== "") return false
  // Compare everything but the port, each as written (the URL parser has normalised both alike).
  const withoutPort = (url: URL) => `${url.protocol}//${url.hostname}${url.pathname}${url.search}`
  return a.protocol === b.protocol && withoutPort(a) === withoutPort(b) &&
    // The port written in the presented URI must be a plain decimal port (or none).
    /^http:\/\/(?:\[[0-9a-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:[/?]|$)/i.test(presented)
}

/** The host a redirect goes to, for the consent page (`localhost`, `example.com`, or the scheme). */
export const hostOf = (uri: string): string => {
  const url = parse(uri)
  if (url === undefined) return uri
  return url.host !== "" ? url.hostname : url.protocol.slice(0, -1)
}

/** Whether the redirect goes to this machine or a private address (the consent page warns). */
export const isLocal = (uri: string): boolean => {
  const url = parse(uri)
  if (url === undefined) return false
  const host = url.hostname
  return loopbackHosts.has(host) || url.host === "" || /^(?:127\.|10\.|192\.168\.|169\.254\.)/.test(host) ||
    /^172\.(?:1[6-9]|2\d|3[01])\./.test(host) || host.endsWith(".local") || host.startsWith("[f")
}
