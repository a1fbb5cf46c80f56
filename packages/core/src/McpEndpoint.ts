/**
 * The MCP endpoint URL handed to agents with their credential, derived from where the server
 * listens. Pure: no Effect, no I/O.
 */
import * as Net from "node:net"

/** Where the server listens; the MCP endpoint URL handed to agents is derived from it. */
export interface EndpointConfig {
  /** The bind host: a name, an IPv4 or IPv6 address (bracketed or not), or a wildcard. */
  readonly host: string
  /** The port actually listened on (not 0). */
  readonly port: number
  /** Default `http`. */
  readonly scheme?: "http" | "https" | undefined
  /** Default `/mcp`. */
  readonly path?: string | undefined
}

/** `[::]` for every spelling of the IPv6 unspecified address; the URL form of any other one. */
const canonicalIpv6 = (address: string): string | undefined => {
  try {
    return new URL(`http://[${address}]/`).hostname
  } catch {
    return undefined
  }
}

/**
 * The host an agent should connect to for a server bound to `bindHost`: a wildcard bind
 * (`0.0.0.0`, `::`, empty) becomes `127.0.0.1` (the agents run on the same machine, and a
 * wildcard is not an address one can connect to); an IPv6 address is bracketed for a URL;
 * anything else is returned as given. (IPv6 zone ids, `fe80::1%eth0`, cannot appear in a WHATWG
 * URL, so such a host makes the layer fail rather than hand out an unusable endpoint.)
 */
export const advertisedHost = (bindHost: string): string => {
  const trimmed = bindHost.trim()
  const bare = trimmed.startsWith("[") && trimmed.endsWith("]") ? trimmed.slice(1, -1) : trimmed
  if (bare === "" || bare === "0.0.0.0") return "127.0.0.1"
  if (!Net.isIPv6(bare)) return bare
  const canonical = canonicalIpv6(bare) ?? `[${bare.toLowerCase()}]`
  return canonical === "[::]" ? "127.0.0.1" : canonical
}

/** The endpoint URL, e.g. `http://127.0.0.1:3773/mcp`. The port is always written out. */
export const endpointUrl = (config: EndpointConfig): string => {
  const scheme = config.scheme ?? "http"
  const path = config.path ?? "/mcp"
  return `${scheme}://${advertisedHost(config.host)}:${config.port}${path.startsWith("/") ? path : `/${path}`}`
}

/** The endpoint URL of `config`, or `undefined` when it could not be used safely in a URL. */
export const validEndpoint = (config: EndpointConfig): string | undefined => {
  if (!Number.isInteger(config.port) || config.port < 1 || config.port > 65535) return undefined
  if (config.scheme !== undefined && config.scheme !== "http" && config.scheme !== "https") return undefined
  // A host or path that would smuggle in another authority, a query or a fragment is refused.
  if (!/^(?:\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+)$/.test(advertisedHost(config.host))) return undefined
  if (config.path !== undefined && !/^\/?[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(config.path)) return undefined
  const url = endpointUrl(config)
  return URL.canParse(url) ? url : undefined
}
