import { assert, describe, it } from "@effect/vitest"
import { ServerAuthPolicy } from "@gatehouse-auth/core"
import { postJson, request } from "@gatehouse-auth/testing/support"
import { Effect, Redacted } from "effect"
import * as fc from "fast-check"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { HttpAuthSettings } from "../src/index.ts"
import { startServer, type TestServer } from "./harness.ts"

const run = promisify(execFile)

const selfSigned = Effect.promise(async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-tls-"))
  try {
    const key = Path.join(directory, "key.pem")
    const cert = Path.join(directory, "cert.pem")
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=phone.test",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert
    ])
    return { key: Fs.readFileSync(key, "utf8"), cert: Fs.readFileSync(cert, "utf8") }
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
})

const issue = (server: TestServer) =>
  Effect.map(
    server.grants.issue({ subject: "owner", scopes: ["read:hello"] }),
    (issued) => Redacted.value(issued.credential)
  )

const cookieBootstrap = (server: TestServer, credential: string, host: string, tls = false) =>
  request(server.port, {
    method: "POST",
    path: "/api/auth/bootstrap",
    host,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ credential }),
    tls
  })

describe("insecure transport: a Secure cookie the browser would drop", () => {
  it.effect("plain HTTP to a non-loopback name is refused before the code is used; the bearer flow then pairs with it", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ policy: "remote-reachable" })
      const credential = yield* issue(server)
      const refused = yield* cookieBootstrap(server, credential, `phone.test:${server.port}`)
      assert.strictEqual(refused.status, 400, refused.text)
      assert.strictEqual(refused.json.error.code, "insecure_transport")
      assert.match(refused.json.error.message, /phone\.test/)
      assert.match(refused.json.error.message, /not used/)
      assert.deepStrictEqual(refused.setCookies, [])
      // Refused again: still nothing consumed, and it is not a guess against the pairing budget.
      for (let attempt = 0; attempt < 3; attempt++) {
        assert.strictEqual((yield* cookieBootstrap(server, credential, `phone.test:${server.port}`)).status, 400)
      }

      const paired = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential }, {
        host: `phone.test:${server.port}`
      })
      assert.strictEqual(paired.status, 200, paired.text)
      assert.strictEqual(paired.json.tokenType, "Bearer")
      // Used once, by the bearer exchange: the code is now spent.
      const again = yield* postJson(server.port, "/api/auth/bootstrap/bearer", { credential })
      assert.strictEqual(again.status, 401, again.text)
    }))

  it.effect("loopback names keep a Secure cookie over plain HTTP: they pair", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ policy: "remote-reachable" })
      for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`]) {
        const response = yield* cookieBootstrap(server, yield* issue(server), host)
        assert.strictEqual(response.status, 200, `${host}: ${response.text}`)
        assert.match(response.setCookies[0]!, /; Secure(;|$)/)
      }
    }))

  it.effect("over HTTPS a non-loopback name pairs with a __Host- Secure cookie", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ policy: "remote-reachable", tls: yield* selfSigned })
      const response = yield* cookieBootstrap(server, yield* issue(server), `phone.test:${server.port}`, true)
      assert.strictEqual(response.status, 200, response.text)
      assert.match(response.setCookies[0]!, /^__Host-gatehouse_session=v1\.[^;]*;.*; Secure(;|$)/)
    }))

  it.effect("a loopback policy's cookie is not Secure: plain HTTP pairs as before", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const response = yield* cookieBootstrap(server, yield* issue(server), `127.0.0.1:${server.port}`)
      assert.strictEqual(response.status, 200, response.text)
      assert.notMatch(response.setCookies[0]!, /Secure/)
    }))

  it.effect("any non-loopback Host (or none that parses) is refused, and the code survives every one", () =>
    Effect.gen(function*() {
      const server = yield* startServer({ policy: "remote-reachable", rateLimit: { capacity: 1000 } })
      const credential = yield* issue(server)
      const hosts = fc.sample(
        fc.oneof(
          fc.domain().filter((name) => !ServerAuthPolicy.isLoopbackHost(name)),
          fc.ipV4().filter((address) => !address.startsWith("127.")),
          fc.string({ maxLength: 40 }).filter((text) => /^[\x21-\x7e]+$/.test(text))
        ),
        { numRuns: 40, seed: 15 }
      ).filter((host) => !/^(127\.|localhost|\[::1\])/i.test(host))
      for (const host of hosts) {
        const response = yield* cookieBootstrap(server, credential, host)
        // A Host the server cannot parse is refused before (403/400); never 200, never a cookie.
        assert.notStrictEqual(response.status, 200, host)
        assert.deepStrictEqual(response.setCookies, [], host)
      }
      const paired = yield* cookieBootstrap(server, credential, `127.0.0.1:${server.port}`)
      assert.strictEqual(paired.status, 200, paired.text)
    }))

  it("the advice names the HTTPS public origin when there is one", () => {
    const settings = HttpAuthSettings.make({ applicationScopes: [], publicOrigin: "https://home.example.net/" })
    assert.include(settings.insecureTransportAdvice, "https://home.example.net/pair")
    const plain = HttpAuthSettings.make({ applicationScopes: [] })
    assert.include(plain.insecureTransportAdvice, "HTTPS")
    assert.strictEqual(
      HttpAuthSettings.make({ applicationScopes: [], insecureTransportAdvice: "Use --tls-self-signed." })
        .insecureTransportAdvice,
      "Use --tls-self-signed."
    )
  })
})
