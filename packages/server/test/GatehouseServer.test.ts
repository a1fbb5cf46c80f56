/**
 * The reference server's own routes (`/pair`, `/api/hello`, `/ws`), on `GatehouseServer.layer`
 * built in-process on a free port, over loopback.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as fc from "fast-check"
import { GatehouseServer } from "../src/index.ts"
import { eventually, openSocket, request } from "./helpers.ts"

const start = Effect.gen(function*() {
  const stateDir = yield* tempDirectory
  const context = yield* Layer.build(GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir }))
  const services = GatehouseServer.services(context)
  const origin = services.info.baseUrl
  /** A session made through the core, as a bearer token. */
  const session = (scopes: ReadonlyArray<string>) =>
    Effect.map(
      services.sessions.issue({ subject: "someone", scopes, method: "pairing" }),
      ({ token }) => Redacted.value(token)
    )
  return { ...services, origin, session }
})

const nonceOf = (csp: string) => /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1]

describe("GatehouseServer", () => {
  it.live("binds port 0 to a free port and names the cookie after the real port", () =>
    Effect.gen(function*() {
      const server = yield* start
      assert.isAbove(server.info.port, 0)
      assert.strictEqual(server.origin, `http://127.0.0.1:${server.info.port}`)
      const state = yield* request(`${server.origin}/api/auth/session`)
      assert.strictEqual(state.json.auth.sessionCookieName, `gatehouse_session_${server.info.port}`)
      assert.strictEqual(state.json.auth.policy, "loopback-browser")
    }))

  it.live("/pair: a fresh CSP nonce per response on its only script and style, no-store, no-referrer, no framing", () =>
    Effect.gen(function*() {
      const server = yield* start
      const first = yield* request(`${server.origin}/pair`)
      const second = yield* request(`${server.origin}/pair`)
      for (const page of [first, second]) {
        assert.strictEqual(page.status, 200)
        assert.strictEqual(page.headers["content-type"], "text/html; charset=utf-8")
        assert.strictEqual(page.headers["cache-control"], "no-store")
        assert.strictEqual(page.headers["referrer-policy"], "no-referrer")
        assert.strictEqual(page.headers["x-frame-options"], "DENY")
        const csp = String(page.headers["content-security-policy"])
        assert.include(csp, "default-src 'none'")
        assert.include(csp, "frame-ancestors 'none'")
        assert.notInclude(csp, "unsafe-inline")
        const nonce = nonceOf(csp)!
        assert.isAtLeast(nonce.length, 16)
        assert.include(csp, `style-src 'nonce-${nonce}'`)
        // Exactly one script and one style block, both carrying this response's nonce.
        assert.deepStrictEqual(page.text.match(/<script[^>]*>/g), [`<script type="module" nonce="${nonce}">`])
        assert.deepStrictEqual(page.text.match(/<style[^>]*>/g), [`<style nonce="${nonce}">`])
        assert.notInclude(page.text, "{{")
      }
      assert.notStrictEqual(
        nonceOf(String(first.headers["content-security-policy"])),
        nonceOf(String(second.headers["content-security-policy"]))
      )
    }))

  it.live("/pair/client.js: the client as JavaScript (the source with its types stripped), public, nosniff", () =>
    Effect.gen(function*() {
      const server = yield* start
      const script = yield* request(`${server.origin}/pair/client.js`)
      assert.strictEqual(script.status, 200)
      assert.strictEqual(script.headers["content-type"], "text/javascript; charset=utf-8")
      assert.strictEqual(script.headers["x-content-type-options"], "nosniff")
      assert.strictEqual(script.headers["cache-control"], "no-cache")
      assert.include(script.text, "export const createAuthClient")
      assert.include(script.text, "export const createGuestClient")
      // Types gone: it parses as JavaScript, as the browser will parse it.
      assert.notInclude(script.text, "import type")
      assert.doesNotThrow(() => new Function(script.text.replaceAll(/^export /gm, "")))
      const page = yield* request(`${server.origin}/pair`)
      assert.include(page.text, `from "/pair/client.js"`)
    }))

  it.live("/ redirects to /pair, unknown paths are a JSON 404; /pair refuses a non-loopback Host (DNS rebinding)", () =>
    Effect.gen(function*() {
      const server = yield* start
      const root = yield* request(`${server.origin}/`)
      assert.strictEqual(root.status, 302)
      assert.strictEqual(root.headers["location"], "/pair")
      const missing = yield* request(`${server.origin}/nothing-here`)
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.json.error.code, "not_found")
      const rebound = yield* request(`${server.origin}/pair`, { headers: { host: `evil.example:${server.info.port}` } })
      assert.strictEqual(rebound.status, 403)
      assert.notInclude(rebound.text, "<html")
      const localhost = yield* request(`${server.origin}/pair`, { headers: { host: `localhost:${server.info.port}` } })
      assert.strictEqual(localhost.status, 200)
    }))

  it.live("GET /api/hello: 401 without a credential, 403 insufficient_scope without read:hello, the subject with it", () =>
    Effect.gen(function*() {
      const server = yield* start
      const anonymous = yield* request(`${server.origin}/api/hello`)
      assert.strictEqual(anonymous.status, 401)
      // DPoP is on by default: the DPoP challenge names the proof algorithms beside Bearer.
      assert.strictEqual(anonymous.headers["www-authenticate"], `Bearer, DPoP algs="ES256 Ed25519 EdDSA"`)

      const writer = yield* server.session(["write:hello"])
      const refused = yield* request(`${server.origin}/api/hello`, { headers: { authorization: `Bearer ${writer}` } })
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.json.error.code, "insufficient_scope")
      assert.match(String(refused.headers["www-authenticate"]), /error="insufficient_scope".*scope="read:hello"/)

      const reader = yield* server.session(["read:hello"])
      const hello = yield* request(`${server.origin}/api/hello`, {
        headers: { cookie: `gatehouse_session_${server.info.port}=${reader}` }
      })
      assert.strictEqual(hello.status, 200)
      assert.deepStrictEqual(hello.json, { hello: "someone" })
      assert.strictEqual(hello.headers["cache-control"], "no-store")
    }))

  it.live("/ws echoes text frames; revoking the session closes it with 4401; shutdown closes it with 1001", () =>
    Effect.gen(function*() {
      const server = yield* start
      const token = yield* server.session(["read:hello"])
      const revoked = yield* openSocket(server.origin, token)
      revoked.socket.send("hello")
      revoked.socket.send("ünïcode ✓")
      yield* eventually(() => revoked.echoes.length === 2, "two echoes")
      assert.deepStrictEqual(revoked.echoes, ["hello", "ünïcode ✓"])

      const sid = (yield* server.sessions.verify(Redacted.make(token))).sid
      yield* server.sessions.revoke(sid)
      assert.strictEqual(yield* Effect.promise(() => revoked.closed), 4401)

      const other = yield* openSocket(server.origin, yield* server.session(["read:hello"]))
      yield* server.shutdown.begin
      assert.strictEqual(yield* Effect.promise(() => other.closed), 1001)
    }))

  it.live("/ws needs read:hello: a session without it is refused before the upgrade", () =>
    Effect.gen(function*() {
      const server = yield* start
      const token = yield* server.session(["write:hello"])
      const ticket = yield* request(`${server.origin}/api/auth/ws-ticket`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: {}
      })
      const upgrade = yield* request(`${server.origin}/ws?wsTicket=${ticket.json.ticket}`, {
        headers: {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="
        }
      })
      assert.strictEqual(upgrade.status, 403)
      assert.strictEqual(upgrade.json.error.code, "insufficient_scope")
    }))
})

describe("GatehouseServer /mcp", () => {
  it.live("an MCP credential minted over HTTP reaches /mcp, a real MCP endpoint (initialize over Streamable HTTP)", () =>
    Effect.gen(function*() {
      const server = yield* start
      const admin = yield* server.session(["write:access"])
      const minted = yield* request(`${server.origin}/api/auth/mcp-credentials`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}` },
        body: { threadId: "thread-7", providerInstanceId: "agent-a" }
      })
      assert.strictEqual(minted.status, 201, minted.text)
      assert.strictEqual(minted.json.endpoint, `${server.origin}/mcp`)
      const initialize = {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } }
      }
      const call = (authorization?: string) =>
        request(`${server.origin}/mcp`, {
          method: "POST",
          headers: {
            accept: "application/json, text/event-stream",
            ...(authorization ? { authorization } : {})
          },
          body: initialize
        })
      const initialized = yield* call(minted.json.authorizationHeader)
      assert.strictEqual(initialized.status, 200, initialized.text)
      assert.strictEqual(initialized.json.id, 1)
      assert.strictEqual(initialized.json.result.protocolVersion, "2025-11-25")
      assert.strictEqual(initialized.json.result.serverInfo.name, "gatehouse")
      assert.isString(initialized.headers["mcp-session-id"])
      const anonymous = yield* call()
      assert.strictEqual(anonymous.status, 401)
      assert.strictEqual(
        anonymous.headers["www-authenticate"],
        // DPoP is on by default: its challenge follows the Bearer one (RFC 9449 section 7.1).
        `Bearer resource_metadata="${server.origin}/.well-known/oauth-protected-resource/mcp", DPoP algs="ES256 Ed25519 EdDSA"`
      )
      const metadata = yield* request(`${server.origin}/.well-known/oauth-protected-resource`)
      assert.strictEqual(metadata.json.resource, `${server.origin}/mcp`)
    }))

  it.live("shutting the server down revokes every MCP credential", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir }),
        scope
      )
      const { mcp } = GatehouseServer.services(context)
      const issued = yield* mcp.issue({ threadId: "t", providerInstanceId: "p" })
      const token = Redacted.value(issued.authorizationHeader).slice("Bearer ".length)
      assert.strictEqual((yield* mcp.resolve(token))._tag, "Some")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* mcp.count, 0)
      assert.strictEqual((yield* mcp.resolve(token))._tag, "None")
    }))
})

describe("GatehouseServer over SQLite: hostile ids and credentials", () => {
  it.live(
    "property: random ids in DELETE paths and random pairing codes never give a 5xx nor touch other rows",
    () =>
      Effect.gen(function*() {
        const server = yield* start
        const admin = yield* server.session([
          "read:access",
          "write:access",
          "read:hello",
          "write:hello",
          "read:runs",
          "write:tasks"
        ])
        const bystander = yield* server.session(["read:hello"])
        const link = yield* request(`${server.origin}/api/auth/pairing-links`, {
          method: "POST",
          headers: { authorization: `Bearer ${admin}` },
          body: { label: "bystander" }
        })
        assert.strictEqual(link.status, 201, link.text)
        const hostile = fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: "binary", maxLength: 100 }),
          fc.constantFrom(
            "' OR '1'='1",
            "1; DROP TABLE gatehouse_sessions; --",
            "%00",
            "\u0000",
            "*",
            "%",
            "_",
            "..",
            "\\",
            "🙂".repeat(50)
          )
        )
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(hostile, async (id) => {
              const path = encodeURIComponent(id)
              for (
                const url of [
                  `${server.origin}/api/auth/sessions/${path}`,
                  `${server.origin}/api/auth/pairing-links/${path}`
                ]
              ) {
                const response = await Effect.runPromise(
                  request(url, { method: "DELETE", headers: { authorization: `Bearer ${admin}` } })
                )
                if (response.status >= 500) throw new Error(`${url}: ${response.status} ${response.text}`)
              }
              const exchanged = await Effect.runPromise(
                request(`${server.origin}/api/auth/bootstrap/bearer`, { method: "POST", body: { credential: id } })
              )
              if (exchanged.status >= 500 || exchanged.status === 200) {
                throw new Error(`bootstrap: ${exchanged.status} ${exchanged.text}`)
              }
            }),
            { numRuns: 60 }
          )
        )
        // Nothing else was revoked or used.
        const hello = yield* request(`${server.origin}/api/hello`, {
          headers: { authorization: `Bearer ${bystander}` }
        })
        assert.strictEqual(hello.status, 200)
        const links = yield* request(`${server.origin}/api/auth/pairing-links`, {
          headers: { authorization: `Bearer ${admin}` }
        })
        assert.deepStrictEqual(links.json.links.map((each: { id: string }) => each.id), [link.json.id])
      }),
    60_000
  )
})
