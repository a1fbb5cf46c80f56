/**
 * HTTPS built in: the X.509 encoder of `--tls-self-signed` (checked by Node's parser and by
 * openssl), the state directory's certificate (made once, key 0600, renewed before it expires), and
 * `gatehouse serve` over HTTPS and WSS with an openssl-made certificate and with its own.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import { Duration, Effect, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { execFile } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Https from "node:https"
import * as Path from "node:path"
import { promisify } from "node:util"
import WebSocket from "ws"
import * as TlsCertificate from "../src/TlsCertificate.ts"
import * as X509 from "../src/X509.ts"
import { exited, gatehouse, serve, waitFor } from "./helpers.ts"

const run = promisify(execFile)
const day = 24 * 3600 * 1000

const openssl = (args: ReadonlyArray<string>, input?: string) =>
  Effect.promise(() => {
    const child = run("openssl", [...args])
    if (input !== undefined) {
      child.child.stdin!.end(input)
    }
    return child.then(({ stdout }) => stdout)
  })

const request = (
  url: string,
  options: {
    readonly ca?: string
    readonly method?: string
    readonly body?: unknown
    readonly headers?: Record<string, string>
  } = {}
) =>
  Effect.promise(() =>
    new Promise<{ status: number; text: string; json: any; setCookies: ReadonlyArray<string> }>((resolve, reject) => {
      const body = options.body === undefined ? undefined : JSON.stringify(options.body)
      const req = Https.request(url, {
        method: options.method ?? "GET",
        ...(options.ca === undefined ? { rejectUnauthorized: false } : { ca: options.ca }),
        headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
        timeout: 10_000
      }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, text, json, setCookies: res.headers["set-cookie"] ?? [] })
        })
      })
      req.on("timeout", () => req.destroy(new Error("timed out")))
      req.on("error", reject)
      req.end(body)
    })
  )

const httpsPairing = /^Pairing URL: (https:\/\/127\.0\.0\.1:(\d+)\/pair#token=([0-9A-Z]{16}))$/m
const printedFingerprint = /^TLS certificate SHA-256 fingerprint: ([0-9A-F:]{95})$/m

const stop = (served: Parameters<typeof exited>[0]) =>
  Effect.gen(function*() {
    served.child.kill("SIGTERM")
    assert.strictEqual((yield* exited(served)).code, 0)
  })

/** Pairs with the cookie flow over HTTPS, then opens `/ws` over WSS with the cookie and gets an echo. */
const pairAndEcho = (origin: string, token: string, ca: string) =>
  Effect.gen(function*() {
    const paired = yield* request(`${origin}/api/auth/bootstrap`, { method: "POST", body: { credential: token }, ca })
    assert.strictEqual(paired.status, 200, paired.text)
    assert.strictEqual(paired.json.session.transport, "cookie")
    const cookie = paired.setCookies[0]!
    assert.match(cookie, /^__Host-gatehouse_session=v1\./)
    assert.match(cookie, /; Secure(;|$)/)
    assert.match(cookie, /; Path=\/(;|$)/)
    assert.notMatch(cookie, /Domain=/i)
    const pair = cookie.split(";")[0]!
    const state = yield* request(`${origin}/api/auth/session`, { headers: { cookie: pair }, ca })
    assert.isTrue(state.json.authenticated)
    const echoed = yield* Effect.promise(() =>
      new Promise<string>((resolve, reject) => {
        const socket = new WebSocket(`${origin.replace(/^https/, "wss")}/ws`, { ca, headers: { cookie: pair } })
        const timer = setTimeout(() => reject(new Error("no echo")), 10_000)
        socket.on("open", () => socket.send("over wss"))
        socket.on("message", (data) => {
          clearTimeout(timer)
          socket.close()
          resolve(String(data))
        })
        socket.on("error", reject)
      })
    )
    assert.strictEqual(echoed, "over wss")
  })

describe("X509: the self-signed certificate encoder", () => {
  const request = {
    commonName: "Gatehouse on test",
    dnsNames: ["localhost", "phone.test", "bad name!", "Laptop.Local"],
    ipAddresses: ["127.0.0.1", "::1", "192.168.1.23", "[2001:db8::23]", "not an address"],
    notBefore: Date.UTC(2026, 0, 1),
    notAfter: Date.UTC(2027, 0, 1)
  }

  it("Node parses it: its own signature verifies, its key matches, names and dates as asked, not a CA", () => {
    const issued = X509.selfSigned(request)
    const cert = new Crypto.X509Certificate(issued.certificate)
    assert.isTrue(cert.verify(cert.publicKey))
    assert.isTrue(cert.checkPrivateKey(Crypto.createPrivateKey(issued.privateKey)))
    assert.isFalse(cert.ca)
    assert.strictEqual(cert.subject, "CN=Gatehouse on test")
    assert.strictEqual(cert.issuer, cert.subject)
    assert.strictEqual(Date.parse(cert.validFrom), request.notBefore)
    assert.strictEqual(Date.parse(cert.validTo), request.notAfter)
    assert.strictEqual(
      cert.subjectAltName,
      "DNS:localhost, DNS:phone.test, DNS:laptop.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, " +
        "IP Address:192.168.1.23, IP Address:2001:DB8:0:0:0:0:0:23"
    )
    assert.strictEqual(cert.checkHost("phone.test"), "phone.test")
    assert.strictEqual(cert.checkIP("192.168.1.23"), "192.168.1.23")
    assert.isUndefined(cert.checkHost("elsewhere.test"))
    assert.strictEqual((cert.publicKey.asymmetricKeyDetails as { namedCurve?: string }).namedCurve, "prime256v1")
    assert.match(cert.serialNumber, /^[0-9A-F]{32}$/)
    assert.strictEqual(X509.fingerprint(issued.certificate), cert.fingerprint256)
  })

  it.effect("openssl reads it the same way", () =>
    Effect.gen(function*() {
      const issued = X509.selfSigned(request)
      const text = yield* openssl(["x509", "-noout", "-text"], issued.certificate)
      assert.include(text, "Version: 3 (0x2)")
      assert.include(text, "Signature Algorithm: ecdsa-with-SHA256")
      assert.include(text, "NIST CURVE: P-256")
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/)
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/)
      assert.include(text, "TLS Web Server Authentication")
      assert.include(text, "DNS:phone.test")
      assert.include(text, "IP Address:192.168.1.23")
      assert.include(text, "Not After : Jan  1 00:00:00 2027 GMT")
      const fingerprint = yield* openssl(["x509", "-noout", "-fingerprint", "-sha256"], issued.certificate)
      assert.strictEqual(fingerprint.trim().split("=")[1], X509.fingerprint(issued.certificate))
      // The key is a P-256 key openssl accepts.
      assert.include(yield* openssl(["pkey", "-noout", "-text"], issued.privateKey), "prime256v1")
    }))

  it("long SAN lists (multi-byte DER lengths) and dates past 2049 (GeneralizedTime) encode correctly", () => {
    const names = Array.from({ length: 300 }, (_, i) => `host-${i}.example.test`)
    const issued = X509.selfSigned({ ...request, dnsNames: names, notAfter: Date.UTC(2051, 5, 1) })
    const cert = new Crypto.X509Certificate(issued.certificate)
    assert.strictEqual(cert.subjectAltName!.split(", ").filter((entry) => entry.startsWith("DNS:")).length, 300)
    assert.strictEqual(Date.parse(cert.validTo), Date.UTC(2051, 5, 1))
  })

  it("property: every IPv4 and IPv6 address round-trips through the SAN; junk is refused, never thrown", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { minLength: 1, maxLength: 6 }), (addresses) => {
        const issued = X509.selfSigned({ ...request, dnsNames: [], ipAddresses: addresses })
        const covered = X509.coveredNames(new Crypto.X509Certificate(issued.certificate))
        for (const address of addresses) assert.isTrue(covered.ips.has(X509.ipBytes(address)!.toString("hex")), address)
      }),
      { numRuns: 25 }
    )
    fc.assert(fc.property(fc.string({ maxLength: 60 }), (text) => {
      const bytes = X509.ipBytes(text)
      assert.isTrue(bytes === undefined || bytes.length === 4 || bytes.length === 16)
      assert.isBoolean(X509.isDnsName(text))
    }))
  })

  it("DER integers are minimal and positive", () => {
    assert.deepStrictEqual([...X509.integer(Buffer.from([0, 0, 5]))], [0x02, 0x01, 0x05])
    assert.deepStrictEqual([...X509.integer(Buffer.from([0x80]))], [0x02, 0x02, 0x00, 0x80])
    assert.deepStrictEqual([...X509.objectIdentifier("1.2.840.10045.4.3.2")], [
      0x06,
      0x08,
      0x2a,
      0x86,
      0x48,
      0xce,
      0x3d,
      0x04,
      0x03,
      0x02
    ])
  })
})

describe("TlsCertificate.selfSigned: the state directory's certificate", () => {
  const options = (stateDir: string, ipAddresses: ReadonlyArray<string> = ["127.0.0.1", "192.168.1.23"]) => ({
    stateDir,
    commonName: "Gatehouse on test",
    dnsNames: ["localhost", "laptop.local"],
    ipAddresses
  })

  it.effect("made once (the same fingerprint after a restart), key 0600, renewed 30 days before expiry, remade for a new address", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 11, 2))
      const stateDir = Path.join(yield* tempDirectory, "state")
      const first = yield* TlsCertificate.selfSigned(options(stateDir))
      const files = {
        key: Path.join(stateDir, "tls-self-signed.key"),
        cert: Path.join(stateDir, "tls-self-signed.crt")
      }
      assert.strictEqual(Fs.statSync(files.key).mode & 0o777, 0o600)
      assert.strictEqual(Fs.statSync(stateDir).mode & 0o777, 0o700)
      assert.strictEqual(first.fingerprint, new Crypto.X509Certificate(Fs.readFileSync(files.cert)).fingerprint256)
      assert.strictEqual(Redacted.value(first.key), Fs.readFileSync(files.key, "utf8"))

      const again = yield* TlsCertificate.selfSigned(options(stateDir))
      assert.strictEqual(again.fingerprint, first.fingerprint)

      // 334 days on (31 left): kept. 336 days (29 left): renewed.
      yield* TestClock.adjust(Duration.days(334))
      assert.strictEqual((yield* TlsCertificate.selfSigned(options(stateDir))).fingerprint, first.fingerprint)
      yield* TestClock.adjust(Duration.days(2))
      const renewed = yield* TlsCertificate.selfSigned(options(stateDir))
      assert.notStrictEqual(renewed.fingerprint, first.fingerprint)
      assert.strictEqual(renewed.expiresAt, Date.UTC(2026, 11, 2) + 336 * day + 365 * day)
      assert.strictEqual(Fs.statSync(files.key).mode & 0o777, 0o600)

      // A new address of the machine: remade, and the new certificate names it.
      const moved = yield* TlsCertificate.selfSigned(options(stateDir, ["127.0.0.1", "10.0.0.7"]))
      assert.notStrictEqual(moved.fingerprint, renewed.fingerprint)
      assert.strictEqual(new Crypto.X509Certificate(moved.cert).checkIP("10.0.0.7"), "10.0.0.7")
      // No temp file left behind.
      assert.deepStrictEqual(Fs.readdirSync(stateDir).sort(), ["tls-self-signed.crt", "tls-self-signed.key"])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("a key that is a planted link is refused, never read; a key open to others is tightened", () =>
    Effect.gen(function*() {
      const stateDir = Path.join(yield* tempDirectory, "state")
      Fs.mkdirSync(stateDir, { mode: 0o700 })
      const elsewhere = Path.join(yield* tempDirectory, "their.key")
      Fs.writeFileSync(elsewhere, "not ours")
      Fs.symlinkSync(elsewhere, Path.join(stateDir, "tls-self-signed.key"))
      const refused = yield* Effect.flip(TlsCertificate.selfSigned(options(stateDir)))
      assert.match(refused.message, /tls-self-signed\.key/)
      assert.strictEqual(Fs.readFileSync(elsewhere, "utf8"), "not ours")

      const other = Path.join(yield* tempDirectory, "state2")
      yield* TlsCertificate.selfSigned(options(other))
      Fs.chmodSync(Path.join(other, "tls-self-signed.key"), 0o644)
      yield* TlsCertificate.selfSigned(options(other))
      assert.strictEqual(Fs.statSync(Path.join(other, "tls-self-signed.key")).mode & 0o777, 0o600)
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("gatehouse serve over HTTPS", () => {
  it.live("--tls-cert/--tls-key with an openssl certificate: https pairing URL, its fingerprint, a __Host- Secure cookie, WSS", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const key = Path.join(directory, "key.pem")
      const cert = Path.join(directory, "cert.pem")
      yield* openssl([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-days",
        "2",
        "-keyout",
        key,
        "-out",
        cert
      ])
      Fs.chmodSync(key, 0o600)
      const pem = Fs.readFileSync(cert, "utf8")
      const port = yield* freePort
      const served = yield* serve([
        "--port",
        String(port),
        "--state-dir",
        Path.join(directory, "state"),
        "--tls-cert",
        cert,
        "--tls-key",
        key
      ])
      const match = yield* waitFor(served, httpsPairing)
      yield* waitFor(served, /It works once/)
      const fingerprint = printedFingerprint.exec(served.stdout())?.[1]
      const expected = (yield* openssl(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert])).trim().split("=")[1]
      assert.strictEqual(fingerprint, expected)
      assert.notMatch(served.stdout() + served.stderr(), /PRIVATE KEY/)
      const origin = `https://127.0.0.1:${port}`
      // Verified against the certificate itself: the server really serves it.
      const page = yield* request(`${origin}/pair`, { ca: pem })
      assert.strictEqual(page.status, 200)
      assert.include(page.text, expected!)
      yield* pairAndEcho(origin, match[3]!, pem)
      yield* stop(served)
    }))

  it.live("--tls-cert without --tls-key, --tls-self-signed with --hosted, or the wrong key: one clear line, nothing served", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const served = yield* serve(["--port", "0", "--state-dir", directory, "--tls-cert", "/nonexistent.pem"])
      const exit = yield* exited(served)
      assert.strictEqual(exit.code, 1)
      assert.include(served.stderr() + served.stdout(), "--tls-cert and --tls-key go together")

      const hosted = yield* serve(["--port", "0", "--state-dir", directory, "--hosted", "--tls-self-signed"])
      assert.strictEqual((yield* exited(hosted)).code, 1)
      assert.include(hosted.stderr() + hosted.stdout(), "--tls-self-signed writes a private key to disk")

      const a = X509.selfSigned({
        commonName: "a",
        dnsNames: [],
        ipAddresses: ["127.0.0.1"],
        notBefore: 0,
        notAfter: Date.now() + day
      })
      const b = X509.selfSigned({
        commonName: "b",
        dnsNames: [],
        ipAddresses: ["127.0.0.1"],
        notBefore: 0,
        notAfter: Date.now() + day
      })
      Fs.writeFileSync(Path.join(directory, "a.crt"), a.certificate)
      Fs.writeFileSync(Path.join(directory, "b.key"), b.privateKey, { mode: 0o600 })
      const mismatched = yield* serve([
        "--port",
        "0",
        "--state-dir",
        Path.join(directory, "state"),
        "--tls-cert",
        Path.join(directory, "a.crt"),
        "--tls-key",
        Path.join(directory, "b.key")
      ])
      assert.strictEqual((yield* exited(mismatched)).code, 1)
      assert.include(mismatched.stderr() + mismatched.stdout(), "the key is not the certificate's")
      assert.notMatch(mismatched.stderr() + mismatched.stdout(), /PRIVATE KEY|^\s+at /m)
    }))

  it.live("--tls-self-signed: made once in the state directory (key 0600), the fingerprint printed and on /pair; the same after a restart; pairing and WSS work", () =>
    Effect.gen(function*() {
      const stateDir = Path.join(yield* tempDirectory, "state")
      const port = yield* freePort
      const args = ["--port", String(port), "--state-dir", stateDir, "--tls-self-signed"]
      const served = yield* serve(args)
      const match = yield* waitFor(served, httpsPairing)
      yield* waitFor(served, /It works once/)
      const certFile = Path.join(stateDir, "tls-self-signed.crt")
      const keyFile = Path.join(stateDir, "tls-self-signed.key")
      assert.strictEqual(Fs.statSync(keyFile).mode & 0o777, 0o600)
      const pem = Fs.readFileSync(certFile, "utf8")
      const cert = new Crypto.X509Certificate(pem)
      const fingerprint = printedFingerprint.exec(served.stdout())?.[1]
      assert.strictEqual(fingerprint, cert.fingerprint256)
      assert.strictEqual(cert.checkIP("127.0.0.1"), "127.0.0.1")
      assert.strictEqual(cert.checkHost("localhost"), "localhost")
      const origin = `https://127.0.0.1:${port}`
      const page = yield* request(`${origin}/pair`, { ca: pem })
      assert.strictEqual(page.status, 200)
      assert.include(page.text, `<code id="tls-fingerprint-value">${cert.fingerprint256}</code>`)
      yield* pairAndEcho(origin, match[3]!, pem)
      const announced = JSON.parse(Fs.readFileSync(Path.join(stateDir, "server.json"), "utf8"))
      assert.strictEqual(announced.tlsFingerprint, cert.fingerprint256)
      assert.strictEqual(announced.pairingBaseUrl, origin)

      // The commands that call the running server pin its certificate by that fingerprint.
      const listed = yield* gatehouse(["mcp", "list", "--state-dir", stateDir])
      assert.strictEqual(listed.code, 0, listed.stderr + listed.stdout)
      assert.include(listed.stdout, "No MCP credentials.")
      const serverFile = Path.join(stateDir, "server.json")
      const wrong = cert.fingerprint256.replace(/^../, cert.fingerprint256.startsWith("00") ? "11" : "00")
      Fs.writeFileSync(serverFile, JSON.stringify({ ...announced, tlsFingerprint: wrong }), { mode: 0o600 })
      const refused = yield* gatehouse(["mcp", "list", "--state-dir", stateDir])
      assert.strictEqual(refused.code, 1)
      assert.include(refused.stderr, "is not the one it announced")
      Fs.writeFileSync(serverFile, JSON.stringify(announced), { mode: 0o600 })
      yield* stop(served)

      const restarted = yield* serve(args)
      yield* waitFor(restarted, /It works once/)
      assert.strictEqual(printedFingerprint.exec(restarted.stdout())?.[1], cert.fingerprint256)
      assert.strictEqual(Fs.readFileSync(certFile, "utf8"), pem)
      yield* stop(restarted)
    }))
})
