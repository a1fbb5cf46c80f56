/**
 * The server's own addresses and secrets: bound to 127.0.0.2 it accepts the Host of its own
 * pairing URL; a malformed `--database-url` never prints its password.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Support from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { gatehouse, serve, waitFor } from "./helpers.ts"

describe("a server bound to 127.0.0.2", () => {
  it.live(
    "accepts Host: 127.0.0.2:<port> (its pairing URL's), and still refuses foreign names",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* Support.tempDirectory
        const served = yield* serve(["--host", "127.0.0.2", "--port", "0", "--state-dir", stateDir])
        const match = yield* waitFor(served, /^Pairing URL: (http:\/\/127\.0\.0\.2:(\d+))\/pair#token=([0-9A-Z]{16})$/m)
        const port = Number(match[2])
        // What a browser opening the pairing URL sends: Host 127.0.0.2:<port>.
        const own = { address: "127.0.0.2", host: `127.0.0.2:${port}` }
        const page = yield* Support.request(port, { ...own, path: "/pair" })
        assert.strictEqual(page.status, 200, page.text)
        const paired = yield* Support.request(port, {
          ...own,
          method: "POST",
          path: "/api/auth/bootstrap/bearer",
          headers: Support.jsonHeaders,
          body: JSON.stringify({ credential: match[3]! })
        })
        assert.strictEqual(paired.status, 200, paired.text)
        for (const host of ["evil.example", `127.0.0.3:${port}`]) {
          const refused = yield* Support.request(port, { address: "127.0.0.2", host, path: "/api/auth/session" })
          assert.strictEqual(refused.status, 403, host)
          assert.strictEqual(refused.json.error.code, "forbidden")
        }
      }),
    60_000
  )
})

describe("what the CLI prints back", () => {
  it.live(
    "an argument it refuses is quoted escaped: no C0, C1 or bidi character reaches the terminal",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* Support.tempDirectory
        // CSI as C1 (JSON.stringify would let it through), OSC 52 as C0, and a right-to-left override.
        const hostile = ["\u009b31mred", "\u001b]52;c;aGk=\u0007", "\u202egnp.exe"]
        for (const value of hostile) {
          for (
            const args of [
              ["pair", "--state-dir", stateDir, "--ttl", value],
              ["pair", "--state-dir", stateDir, "--scopes", value],
              ["sessions", "revoke", value, "--state-dir", stateDir],
              ["serve", "--port", "0", "--state-dir", stateDir, "--allowed-origin", value]
            ]
          ) {
            const result = yield* gatehouse(args)
            const output = `${result.stdout}${result.stderr}`
            assert.strictEqual(result.code, 1, `${args.join(" ")}: ${output}`)
            assert.notMatch(output, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u, args[0])
            assert.match(output, /\\x9B|\\x1B|\\u\{202E\}/, `${args.join(" ")}: the escape is shown`)
          }
        }
      }),
    120_000
  )
})

describe("a malformed --database-url", () => {
  it.live("never prints its password, from serve or from a command", () =>
    Effect.gen(function*() {
      const stateDir = yield* Support.tempDirectory
      // Unencoded / ? # end the authority early: the password then parses as port and database.
      const passwords = ["5432/S3cretPw", "5432?S3cretPw", "5432#S3cretPw", "S3cretPw"]
      const urls = [
        ...passwords.slice(0, 3).map((password) => `postgres://owner:${password}@127.0.0.1:1/gatehouse`),
        "postgres://owner:S3cretPw@[bad/gatehouse",
        "postgres://owner:S3cretPw@127.0.0.1:notaport/gatehouse",
        "S3cretPw"
      ]
      for (const url of urls) {
        for (const command of [["serve", "--port", "0"], ["sessions", "list"]]) {
          const result = yield* gatehouse([...command, "--state-dir", stateDir, "--database-url", url])
          const output = `${result.stdout}${result.stderr}`
          assert.strictEqual(result.code, 1, `${command[0]} ${url}: ${output}`)
          assert.include(output, "URL")
          for (const secret of ["S3cretPw", "owner:5432"]) {
            assert.notInclude(output, secret, `${command[0]} ${url}`)
          }
        }
      }
    }), 120_000)
})

describe("gatehouse serve and Node's HTTP parser", () => {
  it.live(
    "a negative content-length or control bytes in a header: the JSON error shape, not an empty 400",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* Support.tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        const port = Number((yield* waitFor(served, /^Pairing URL: http:\/\/127\.0\.0\.1:(\d+)\//m))[1])
        for (
          const head of [
            "POST /api/auth/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
            "GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=\u0000\r\n\r\n"
          ]
        ) {
          const { received } = yield* Support.rawExchange(port, head)
          assert.match(received, /^HTTP\/1\.1 400 /)
          const body = JSON.parse(received.slice(received.indexOf("\r\n\r\n") + 4))
          assert.strictEqual(body.error.code, "invalid_request")
        }
      }),
    60_000
  )
})
