/**
 * Which address a pairing URL names. A server bound to a wildcard (`0.0.0.0`, `::`) listens on
 * every address of the machine, and `127.0.0.1` is the one address a phone cannot reach: the URL
 * and its QR code name the machine's primary non-loopback address instead, and the banner lists the
 * others. Bound to one address, that address is the only one there is.
 *
 * The primary address is the first usable IPv4 address the system lists (IPv4 first: a phone on a
 * home network reaches it whatever its IPv6 setup), then the first usable IPv6 one on `::`.
 * Link-local addresses (`169.254.x.x`, `fe80::`) are left out: they change on every boot, and an
 * IPv6 one needs a zone that a URL cannot carry. A machine with no other address falls back to
 * loopback (only this machine can open that URL; the banner says so).
 *
 * The addresses come from `NetworkAddresses`, a reference whose default asks the operating system
 * (`os.networkInterfaces()`); a test or an embedder provides its own list.
 */
import { Context, Effect } from "effect"
import * as Os from "node:os"

export interface Address {
  readonly address: string
  readonly family: "IPv4" | "IPv6"
  /** Loopback (the system's `internal`). */
  readonly internal: boolean
}

export interface NetworkAddressesShape {
  readonly list: Effect.Effect<ReadonlyArray<Address>>
}

/** The machine's addresses as the operating system lists them, interface by interface. */
export const fromSystem = (): ReadonlyArray<Address> =>
  Object.values(Os.networkInterfaces()).flatMap((entries) =>
    (entries ?? []).map((entry) => ({
      address: entry.address,
      family: entry.family === "IPv6" ? "IPv6" as const : "IPv4" as const,
      internal: entry.internal
    }))
  )

export const NetworkAddresses = Context.Reference<NetworkAddressesShape>("@gatehouse-auth/server/NetworkAddresses", {
  defaultValue: () => ({ list: Effect.sync(fromSystem) })
})

/** A fixed list (tests; an embedder that knows better than the system). */
export const fixed = (addresses: ReadonlyArray<Address>): NetworkAddressesShape => ({
  list: Effect.succeed(addresses)
})

export const isWildcard = (host: string): boolean => host === "" || host === "0.0.0.0" || host === "::"

const isLinkLocal = (address: Address): boolean =>
  address.family === "IPv4" ? address.address.startsWith("169.254.") : /^fe[89ab][0-9a-f]:/i.test(address.address)

const isLoopbackAddress = (address: Address): boolean =>
  address.internal || address.address.startsWith("127.") || address.address === "::1"

/** An address as the host of a URL: IPv6 in brackets. */
export const urlHost = (address: string): string =>
  address.includes(":") && !address.startsWith("[") ? `[${address}]` : address

export interface Reachable {
  /** Where a device elsewhere reaches the server: the pairing URL's host (bracketed if IPv6). */
  readonly primary: string
  /** True when nothing but loopback was found (or bound): only this machine can use `primary`. */
  readonly loopbackOnly: boolean
  /** The other hosts the server listens on (bracketed if IPv6), loopback last. */
  readonly others: ReadonlyArray<string>
}

/** What a server bound to `host` can be reached at, given the machine's addresses. */
export const reachable = (host: string, addresses: ReadonlyArray<Address>): Reachable => {
  if (!isWildcard(host)) return { primary: urlHost(host), loopbackOnly: isLoopbackName(host), others: [] }
  const families = host === "::" ? ["IPv4", "IPv6"] : ["IPv4"]
  const usable = addresses.filter((address) =>
    families.includes(address.family) && !isLoopbackAddress(address) && !isLinkLocal(address)
  )
  const ordered = [
    ...usable.filter((address) => address.family === "IPv4"),
    ...usable.filter((address) => address.family === "IPv6")
  ].map((address) => urlHost(address.address))
  const unique = [...new Set(ordered)]
  const loopback = host === "::" ? ["127.0.0.1", "[::1]"] : ["127.0.0.1"]
  const [primary, ...rest] = unique
  return primary === undefined
    ? { primary: loopback[0]!, loopbackOnly: true, others: loopback.slice(1) }
    : { primary, loopbackOnly: false, others: [...rest, ...loopback] }
}

const isLoopbackName = (host: string): boolean =>
  host === "localhost" || host.startsWith("127.") || host === "::1" || host === "[::1]"
