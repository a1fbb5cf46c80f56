/**
 * The pairing URL names an address a phone can reach: on a wildcard bind the machine's primary
 * non-loopback address (the addresses are injected through `NetworkAddresses`, so the test does not
 * depend on this machine's network), else the bound one. The printed URL and QR code are only
 * parsed: every request goes to 127.0.0.1.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import { Console, Effect, Fiber, Option } from "effect"
import * as fc from "fast-check"
import * as Path from "node:path"
import { encode } from "uqr"
import * as NetworkAddresses from "../src/NetworkAddresses.ts"
import * as Serve from "../src/Serve.ts"
import { bearerBootstrap, gatehouse } from "./helpers.ts"

const lan: ReadonlyArray<NetworkAddresses.Address> = [
  { address: "127.0.0.1", family: "IPv4", internal: true },
  { address: "::1", family: "IPv6", internal: true },
  { address: "fe80::1c2a:3bff:fe4d:5e6f", family: "IPv6", internal: false },
  { address: "169.254.10.20", family: "IPv4", internal: false },
  { address: "192.168.1.23", family: "IPv4", internal: false },
  { address: "2001:db8::23", family: "IPv6", internal: false },
  { address: "10.8.0.5", family: "IPv4", internal: false }
]

const input = (overrides: Partial<Serve.Input> & Pick<Serve.Input, "port" | "stateDir">): Serve.Input => ({
  host: "0.0.0.0",
  databaseUrl: Option.none(),
  keyRefreshInterval: "1 minute",
  open: false,
  desktopBootstrapFd: Option.none(),
  allowedOrigins: [],
  trustedProxies: [],
  policy: Option.none(),
  publicUrl: Option.none(),
  hosted: false,
  maxConnections: 1024,
  maxConnectionsPerAddress: 256,
  headersTimeout: "10 seconds",
  requestTimeout: "30 seconds",
  keepAliveTimeout: "5 seconds",
  tlsCert: Option.none(),
  tlsKey: Option.none(),
  tlsSelfSigned: false,
  ...overrides
})

/** Runs `gatehouse serve` in this process with `addresses`, until its banner is printed; the banner. */
const banner = (served: Serve.Input, addresses: ReadonlyArray<NetworkAddresses.Address>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const console = { ...globalThis.console, log: (...args: Array<unknown>) => lines.push(args.join(" ")) }
    const fiber = yield* Serve.run(served).pipe(
      Effect.provideService(NetworkAddresses.NetworkAddresses, NetworkAddresses.fixed(addresses)),
      Effect.provideService(Console.Console, console as unknown as Console.Console),
      Effect.provide(NodeServices.layer),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))
    for (let waited = 0; !lines.join("\n").includes("It works once"); waited += 20) {
      if (waited > 20_000) return yield* Effect.die(new Error(`no banner: ${lines.join("\n")}`))
      yield* Effect.sleep("20 millis")
    }
    return lines.join("\n")
  })

/** The first QR block printed after the `Pairing URL:` line, as rows of dark (true) and light modules. */
const printedModules = (text: string): ReadonlyArray<ReadonlyArray<boolean>> => {
  const lines = text.split("\n")
  const after = lines.findIndex((line) => line.startsWith("Pairing URL:"))
  const start = lines.findIndex((line, i) => i > after && /^[█▀▄ ]{20,}$/.test(line))
  const block: Array<string> = []
  for (const line of lines.slice(start)) {
    if (!/^[█▀▄ ]+$/.test(line)) break
    block.push(line)
  }
  // Two module rows per character row: top half, bottom half. The block is drawn light-on-dark or
  // dark-on-light; which one is read from the quiet-zone border (light modules).
  const rows: Array<Array<boolean>> = []
  for (const line of block) {
    const chars = [...line]
    rows.push(chars.map((c) => c === "█" || c === "▀"), chars.map((c) => c === "█" || c === "▄"))
  }
  const borderIsSet = rows[0]![0]!
  return rows.map((row) => row.map((cell) => cell !== borderIsSet))
}

/** The modules of `url`'s QR code (as `Serve.qrCode` encodes it), without the border. */
const expectedModules = (url: string) => encode(url, { ecc: "L", border: 0 }).data

/** True when the printed block is exactly the QR code of `url`. */
const qrCarries = (text: string, url: string): boolean => {
  const printed = printedModules(text)
  const expected = expectedModules(url)
  const border = 2
  return expected.every((row, y) => row.every((dark, x) => printed[y + border]?.[x + border] === dark))
}

const pairingUrl = (text: string) => {
  const match = /^Pairing URL: (https?:\/\/([^/]+)\/pair#token=([0-9A-Z]{16}))$/m.exec(text)
  assert.isNotNull(match, text)
  return { url: match![1]!, host: match![2]!, token: match![3]! }
}

describe("reachable: which address a pairing URL names", () => {
  it("a wildcard bind names the first usable IPv4 address; link-local and loopback are left out", () => {
    assert.deepStrictEqual(NetworkAddresses.reachable("0.0.0.0", lan), {
      primary: "192.168.1.23",
      loopbackOnly: false,
      others: ["10.8.0.5", "127.0.0.1"]
    })
    assert.deepStrictEqual(NetworkAddresses.reachable("::", lan), {
      primary: "192.168.1.23",
      loopbackOnly: false,
      others: ["10.8.0.5", "[2001:db8::23]", "127.0.0.1", "[::1]"]
    })
  })

  it("a machine with nothing but loopback (and link-local) falls back to loopback, and says so", () => {
    const none = lan.filter((a) => a.internal || a.address.startsWith("169.254.") || a.address.startsWith("fe80"))
    assert.deepStrictEqual(NetworkAddresses.reachable("0.0.0.0", none), {
      primary: "127.0.0.1",
      loopbackOnly: true,
      others: []
    })
    assert.deepStrictEqual(NetworkAddresses.reachable("::", []), {
      primary: "127.0.0.1",
      loopbackOnly: true,
      others: ["[::1]"]
    })
  })

  it("a specific bind names that address only", () => {
    assert.deepStrictEqual(NetworkAddresses.reachable("192.168.1.23", lan).primary, "192.168.1.23")
    assert.deepStrictEqual(NetworkAddresses.reachable("2001:db8::23", lan).primary, "[2001:db8::23]")
    assert.isTrue(NetworkAddresses.reachable("127.0.0.1", lan).loopbackOnly)
  })

  it("property: the primary is never loopback or link-local while a usable address exists, and every host is URL-safe", () => {
    const address = fc.oneof(
      fc.ipV4().map((a) => ({ address: a, family: "IPv4" as const, internal: a.startsWith("127.") })),
      fc.ipV6().map((a) => ({ address: a, family: "IPv6" as const, internal: a === "::1" }))
    )
    fc.assert(fc.property(fc.array(address, { maxLength: 12 }), fc.constantFrom("0.0.0.0", "::"), (list, host) => {
      const found = NetworkAddresses.reachable(host, list)
      const usable = list.filter((a) =>
        !a.internal && (host === "::" || a.family === "IPv4") && !a.address.startsWith("169.254.") &&
        !/^fe[89ab]/i.test(a.address) && !a.address.startsWith("127.") && a.address !== "::1"
      )
      assert.strictEqual(found.loopbackOnly, usable.length === 0)
      if (usable.length > 0) assert.include(usable.map((a) => NetworkAddresses.urlHost(a.address)), found.primary)
      for (const each of [found.primary, ...found.others]) {
        assert.doesNotThrow(() => new URL(`http://${each}:3773/pair`))
      }
      assert.notInclude(found.others, found.primary)
    }))
  })
})

describe("gatehouse serve --host 0.0.0.0", () => {
  it.live("prints a pairing URL and QR code naming the primary network address; the banner lists the others; gatehouse pair follows", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = Path.join(yield* tempDirectory, "state")
      const text = yield* banner(input({ port, stateDir }), lan)
      const printed = pairingUrl(text)
      assert.strictEqual(printed.host, `192.168.1.23:${port}`)
      assert.isTrue(qrCarries(text, printed.url), "the QR code carries the printed URL")
      assert.isFalse(qrCarries(text, printed.url.replace("192.168.1.23", "127.0.0.1")))
      assert.include(text, `Also listening on: http://10.8.0.5:${port}  http://127.0.0.1:${port}`)
      assert.notInclude(text, "169.254.")

      // The code is this server's: it pairs (over loopback).
      const exchanged = yield* bearerBootstrap(`http://127.0.0.1:${port}`, printed.token)
      assert.strictEqual(exchanged.status, 200, exchanged.text)

      // `gatehouse pair` reads the same address from server.json.
      const paired = yield* gatehouse(["pair", "--state-dir", stateDir])
      assert.strictEqual(paired.code, 0, paired.stderr)
      const link = pairingUrl(paired.stdout)
      assert.strictEqual(link.host, `192.168.1.23:${port}`)
      assert.isTrue(qrCarries(paired.stdout, link.url))
      assert.include(paired.stdout, `Also listening on: http://10.8.0.5:${port}  http://127.0.0.1:${port}`)
      assert.strictEqual((yield* bearerBootstrap(`http://127.0.0.1:${port}`, link.token)).status, 200)
    }))

  it.live("with no address but loopback it falls back to 127.0.0.1 and says only this machine can open it", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = Path.join(yield* tempDirectory, "state")
      const text = yield* banner(input({ port, stateDir }), lan.filter((a) => a.internal))
      assert.strictEqual(pairingUrl(text).host, `127.0.0.1:${port}`)
      assert.match(text, /only this machine can open the pairing URL/)
    }))

  it.live("--public-url wins: the URL and QR code name it, and the direct addresses are listed", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = Path.join(yield* tempDirectory, "state")
      const text = yield* banner(
        input({ port, stateDir, publicUrl: Option.some("https://gatehouse.tail1234.ts.net") }),
        lan
      )
      const printed = pairingUrl(text)
      assert.strictEqual(printed.host, "gatehouse.tail1234.ts.net")
      assert.isTrue(qrCarries(text, printed.url))
      assert.include(text, `Also listening on: http://192.168.1.23:${port}  http://10.8.0.5:${port}`)
    }))

  it.live("a loopback bind keeps 127.0.0.1 and lists nothing else", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = Path.join(yield* tempDirectory, "state")
      const text = yield* banner(input({ host: "127.0.0.1", port, stateDir }), lan)
      assert.strictEqual(pairingUrl(text).host, `127.0.0.1:${port}`)
      assert.notInclude(text, "Also listening on")
      assert.notInclude(text, "only this machine")
    }))
})
