/**
 * Hostile text stays text: what a client or an application hands the server as text (labels,
 * device names, scopes) never becomes terminal escapes, header syntax or a new header line.
 */
import { assert, describe, it } from "@effect/vitest"
import { ClientMetadata } from "@gatehouse-auth/core"
import { bearer, controlCharacter, postJson, rawExchange, request } from "@gatehouse-auth/testing/support"
import { Effect, Redacted } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as fc from "fast-check"
import { AuthError, HttpAuth } from "../src/index.ts"
import { adminSession, startServer } from "./harness.ts"

/**
 * The auth-params of a `Bearer` challenge, parsed as RFC 9110 §11.2 says (quoted-string with
 * quoted-pairs): what a client would read out of the header.
 */
const challengeParams = (header: string): Record<string, string> => {
  assert.match(header, /^Bearer(?: |$)/)
  const params: Record<string, string> = {}
  const pattern = /\s*([A-Za-z_]+)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y
  let rest = header.slice("Bearer".length).trimStart()
  for (let i = 0; i < 32 && rest !== ""; i++) {
    pattern.lastIndex = 0
    const match = pattern.exec(rest)
    assert.isNotNull(match, `unparseable challenge ${JSON.stringify(header)}`)
    params[match![1]!] = match![2]!.replace(/\\(.)/g, "$1")
    rest = rest.slice(pattern.lastIndex)
  }
  return params
}

describe("WWW-Authenticate parameters", () => {
  it("a quote or a backslash stays inside its parameter", () => {
    const hostile = `x", error_uri="https://evil.example\\`
    for (
      const error of [
        AuthError.insufficientScope([hostile]),
        AuthError.invalidCredential("no", { resource_metadata: hostile }),
        AuthError.missingCredential({ resource_metadata: hostile })
      ]
    ) {
      const header = error.headers!["www-authenticate"]!
      const params = challengeParams(header)
      assert.notProperty(params, "error_uri", header)
      assert.include(Object.values(params), hostile, header)
    }
  })

  it("no control character reaches the header", () => {
    const error = AuthError.insufficientScope(["a\r\nSet-Cookie: x=1", "b\u0000\u007f\u0085"])
    const header = error.headers!["www-authenticate"]!
    assert.notMatch(header, /[\u0000-\u001f\u007f-\u009f]/)
    assert.notProperty(challengeParams(header), "Set-Cookie")
  })

  it.effect("a scope with a quote or CR/LF: a 403 in the JSON shape, one challenge, never an empty 500", () =>
    Effect.gen(function*() {
      const scopes = [`read:x", error_uri="https://evil.example`, "read:y\r\nset-cookie: stolen=1"]
      const routes = HttpRouter.use(Effect.fnUntraced(function*(router) {
        const auth = yield* HttpAuth.HttpAuth
        for (const [i, scope] of scopes.entries()) {
          yield* router.add(
            "GET",
            `/api/odd/${i}`,
            auth.requireScopes([scope])(Effect.succeed(HttpServerResponse.empty()))
          )
        }
      }))
      const server = yield* startServer({ routes })
      const session = yield* adminSession(server, ["read:hello"])
      for (const [i, scope] of scopes.entries()) {
        const response = yield* request(server.port, {
          path: `/api/odd/${i}`,
          headers: { authorization: `Bearer ${session.token}` }
        })
        assert.strictEqual(response.status, 403, response.text)
        assert.strictEqual(response.json.error.code, "insufficient_scope")
        assert.isUndefined(response.headers["set-cookie"])
        const params = challengeParams(String(response.headers["www-authenticate"]))
        assert.deepStrictEqual(Object.keys(params).sort(), ["error", "scope"])
        assert.notInclude(params.scope, "\n")
        if (i === 0) assert.strictEqual(params.scope, scope)
      }
    }))
})

describe("MCP capabilities", () => {
  it.effect("are validated as scopes: 400 before use, nothing issued", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const admin = yield* adminSession(server, ["write:access"])
      for (const capability of [`x", error_uri="https://evil.example`, "read:a\r\nb", "read:x\u001b", "READ:X", ""]) {
        const response = yield* postJson(server.port, "/api/auth/mcp-credentials", {
          threadId: "t",
          providerInstanceId: "p",
          capabilities: [capability]
        }, { authorization: `Bearer ${admin.token}` })
        assert.strictEqual(response.status, 400, JSON.stringify(capability))
        assert.strictEqual(response.json.error.code, "invalid_request")
        assert.isUndefined(response.headers["www-authenticate"])
      }
      assert.strictEqual(yield* server.mcp.count, 0)
    }))
})

describe("client metadata with control characters is refused at the door", () => {
  it.effect(
    "property: a pairing link label or a bearer client field with C0/C1/bidi: 400 invalid_request",
    () =>
      Effect.gen(function*() {
        const server = yield* startServer({ rateLimit: { capacity: 1_000_000 } })
        const admin = yield* adminSession(server)
        const cases = fc.sample(
          fc.tuple(fc.constantFrom("label", "deviceType", "os", "browser"), controlCharacter, fc.boolean()),
          { numRuns: 60, seed: 20261201 }
        )
        for (const [field, control, asLink] of cases) {
          const text = `Anna${control}[31m`
          const response = asLink
            ? yield* postJson(server.port, "/api/auth/pairing-links", { label: text }, bearer(admin.token))
            : yield* postJson(server.port, "/api/auth/bootstrap/bearer", {
              credential: "AAAA-AAAA-AAAA-AAAA",
              client: { [field]: text }
            })
          const shown = JSON.stringify({ field, text, asLink })
          assert.strictEqual(response.status, 400, shown)
          assert.strictEqual(response.json.error.code, "invalid_request", shown)
        }
        const links = yield* request(server.port, { path: "/api/auth/pairing-links", headers: bearer(admin.token) })
        assert.deepStrictEqual(links.json.links, [])
      }),
    { timeout: 60_000 }
  )

  it.effect("a User-Agent's C1 bytes never reach the stored client", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const grant = yield* server.grants.issue({ subject: "owner", scopes: ["read:hello"] })
      const response = yield* postJson(server.port, "/api/auth/bootstrap/bearer", {
        credential: Redacted.value(grant.credential),
        client: { label: "plain" }
      }, { "user-agent": "Mozilla/5.0 (X11; Linux) Firefox/1" })
      assert.strictEqual(response.status, 200, response.text)
      const [session] = yield* server.sessions.list
      assert.isTrue(ClientMetadata.isPlainText(Object.values(session!.client).join("")))
    }))
})

describe("what Node's HTTP parser refuses answers in the JSON error shape", () => {
  it.effect("bad cookie bytes, 431 headers, a negative content-length, a bad request line, an undecodable path", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      const cases: ReadonlyArray<readonly [string, number, string]> = [
        ["GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: a=\u0000\u0001\r\n\r\n", 400, "invalid_request"],
        [`GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431, "invalid_request"],
        [
          "POST /api/auth/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n",
          400,
          "invalid_request"
        ],
        ["GARBAGE\r\n\r\n", 400, "invalid_request"],
        ["GET /api/%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 404, "not_found"]
      ]
      for (const [head, status, code] of cases) {
        const shown = JSON.stringify(head.slice(0, 80))
        const answer = yield* rawExchange(server.port, head)
        assert.strictEqual(answer.status, status, shown)
        const json = JSON.parse(answer.body)
        assert.deepStrictEqual(Object.keys(json), ["error"], shown)
        assert.strictEqual(json.error.code, code, shown)
        assert.isString(json.error.message)
      }
      assert.strictEqual((yield* request(server.port, { path: "/api/auth/session" })).status, 200)
    }))
})
