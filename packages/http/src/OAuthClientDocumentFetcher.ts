/**
 * Fetches client ID metadata documents for `OAuthClients` (core's `OAuthClientDocumentFetcher`),
 * guarded against server-side request forgery: the URL a client names is fetched by this server,
 * so it must not reach this machine or its network.
 *
 * - The host is resolved once, every address it resolves to is checked, and the connection is made
 *   to the checked address (the name only as TLS server name and Host), so a second resolution
 *   cannot swap in another address. Private (RFC 1918), loopback, link-local, CGNAT
 *   (100.64.0.0/10), unique-local (fc00::/7), IPv4-mapped IPv6, unspecified, multicast and other
 *   reserved addresses are refused, unless `allowPrivateAddresses` (for tests).
 * - `GET` only, no redirects (a 3xx is refused), no cookies or credentials, `Accept:
 *   application/json`; at most 5 KB (`maxBytes`) and 5 seconds (`timeout`) for the whole answer.
 * - At most 2 fetches at once per host and 16 in all; beyond, refused at once (`Busy`).
 * - `ca`: a certificate authority to trust besides the system's (for tests).
 */
import { OAuthClientDocuments } from "@gatehouse-auth/core"
import { Duration, Effect, Layer } from "effect"
import * as Dns from "node:dns"
import * as Https from "node:https"
import * as Net from "node:net"
import * as Tls from "node:tls"

export interface Options {
  readonly allowPrivateAddresses?: boolean | undefined
  readonly ca?: string | ReadonlyArray<string> | undefined
  readonly maxBytes?: number | undefined
  readonly timeout?: Duration.Input | undefined
  readonly maxPerHost?: number | undefined
  readonly maxConcurrent?: number | undefined
}

const ipv4 = (address: string): number | undefined => {
  const parts = address.split(".")
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) return undefined
  return parts.reduce((value, part) => value * 256 + Number(part), 0)
}

const inV4 = (value: number, base: string, bits: number) => {
  const start = ipv4(base)!
  const size = 2 ** (32 - bits)
  return value >= start && value < start + size
}

const privateV4: ReadonlyArray<readonly [string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4]
]

/** The 8 groups of an IPv6 address (an embedded IPv4 tail expanded), or `undefined`. */
const ipv6Groups = (address: string): Array<number> | undefined => {
  if (!Net.isIPv6(address)) return undefined
  let text = address.toLowerCase()
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail !== null) {
    const value = ipv4(tail[1]!)
    if (value === undefined) return undefined
    text = `${text.slice(0, -tail[1]!.length)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`
  }
  const [head, rest] = text.split("::") as [string, string | undefined]
  const left = head === "" ? [] : head.split(":")
  const right = rest === undefined || rest === "" ? [] : rest.split(":")
  const missing = 8 - left.length - right.length
  const groups = rest === undefined ? left : [...left, ...Array(missing).fill("0"), ...right]
  return groups.length === 8 ? groups.map((group) => parseInt(group, 16)) : undefined
}

/** Whether this server must not connect to `address` on a client's say-so. */
export const isForbiddenAddress = (address: string): boolean => {
  const v4 = ipv4(address)
  if (v4 !== undefined) return privateV4.some(([base, bits]) => inV4(v4, base, bits)) || v4 === 0xffffffff
  const groups = ipv6Groups(address)
  if (groups === undefined) return true
  const [a] = groups as [number]
  if (groups.every((group) => group === 0)) return true // ::
  if (groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1) return true // ::1
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return true // IPv4-mapped
  if (groups.slice(0, 6).every((group) => group === 0)) return true // IPv4-compatible (deprecated)
  if ((a & 0xfe00) === 0xfc00) return true // fc00::/7 unique local
  if ((a & 0xffc0) === 0xfe80) return true // fe80::/10 link local
  if ((a & 0xffc0) === 0xfec0) return true // fec0::/10 site local (deprecated)
  if ((a & 0xff00) === 0xff00) return true // multicast
  if (a === 0x64 && groups[1] === 0xff9b) return true // 64:ff9b::/96 NAT64 reaches IPv4 space
  if (a === 0x2001 && groups[1] === 0x0db8) return true // documentation
  if (a === 0x2002) return true // 6to4 embeds any IPv4 address
  return false
}

/** `max-age` of a `Cache-Control` header in seconds; 0 for `no-store`/`no-cache` or none. */
export const maxAgeOf = (header: string | undefined): number => {
  if (header === undefined) return 0
  const directives = header.toLowerCase().split(",").map((part) => part.trim())
  if (directives.some((part) => part === "no-store" || part === "no-cache")) return 0
  const found = directives.map((part) => /^max-age=(\d{1,10})$/.exec(part)).find((match) => match !== null)
  return found === undefined || found === null ? 0 : Number(found[1])
}

export const make = (options: Options = {}) =>
  Effect.sync(() => {
    const maxBytes = options.maxBytes ?? 5 * 1024
    const timeoutMillis = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(5)))
    const maxPerHost = options.maxPerHost ?? 2
    const maxConcurrent = options.maxConcurrent ?? 16
    const running = new Map<string, number>()
    let total = 0
    const ca = options.ca === undefined
      ? undefined
      : [...Tls.rootCertificates, ...[options.ca].flat()]

    type Outcome = OAuthClientDocuments.Fetched | { readonly problem: OAuthClientDocuments.Problem }

    const resolve = (hostname: string): Promise<Array<string>> => {
      const bare = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname
      if (Net.isIP(bare) !== 0) return Promise.resolve([bare])
      return Dns.promises.lookup(bare, { all: true, verbatim: true }).then((all) => all.map((each) => each.address))
    }

    const get = async (url: URL): Promise<Outcome> => {
      let addresses: Array<string>
      try {
        addresses = await resolve(url.hostname)
      } catch {
        return { problem: "Network" }
      }
      if (addresses.length === 0) return { problem: "Network" }
      if (options.allowPrivateAddresses !== true && addresses.some(isForbiddenAddress)) return { problem: "Address" }
      const address = addresses[0]!
      const bare = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
      return new Promise<Outcome>((done) => {
        let settled = false
        const finish = (outcome: Outcome) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          request.destroy()
          done(outcome)
        }
        const request = Https.request({
          host: address,
          port: url.port === "" ? 443 : Number(url.port),
          path: `${url.pathname}${url.search}`,
          method: "GET",
          // The checked address is the one connected to; the name is only what TLS verifies.
          ...(Net.isIP(bare) === 0 ? { servername: bare } : {}),
          headers: { host: url.host, accept: "application/json", "user-agent": "gatehouse-oauth" },
          agent: false,
          ...(ca === undefined ? {} : { ca: [...ca] })
        }, (response) => {
          const status = response.statusCode ?? 0
          if (status >= 300 && status < 400) return finish({ problem: "Redirect" })
          if (status !== 200) return finish({ problem: "Status" })
          if (Number(response.headers["content-length"] ?? "0") > maxBytes) return finish({ problem: "TooLarge" })
          const chunks: Array<Buffer> = []
          let size = 0
          response.on("data", (chunk: Buffer) => {
            size += chunk.length
            if (size > maxBytes) return finish({ problem: "TooLarge" })
            chunks.push(chunk)
          })
          response.on("end", () =>
            finish({
              body: Buffer.concat(chunks).toString("utf8"),
              maxAgeSeconds: maxAgeOf(response.headers["cache-control"])
            }))
          response.on("error", () => finish({ problem: "Network" }))
        })
        const timer = setTimeout(() => finish({ problem: "Timeout" }), timeoutMillis)
        request.on("error", () => finish({ problem: "Network" }))
        request.end()
      })
    }

    const fetch = (url: URL): Effect.Effect<Outcome> =>
      Effect.suspend(() => {
        const host = url.host
        const busy = running.get(host) ?? 0
        if (busy >= maxPerHost || total >= maxConcurrent) return Effect.succeed({ problem: "Busy" as const })
        running.set(host, busy + 1)
        total++
        return Effect.promise(() => get(url)).pipe(
          Effect.ensuring(Effect.sync(() => {
            total--
            const left = (running.get(host) ?? 1) - 1
            if (left > 0) running.set(host, left)
            else running.delete(host)
          }))
        )
      })

    return OAuthClientDocuments.OAuthClientDocumentFetcher.of({ fetch })
  })

export const layer = (options: Options = {}) =>
  Layer.effect(OAuthClientDocuments.OAuthClientDocumentFetcher, make(options))
