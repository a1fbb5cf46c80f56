/**
 * The CLI beside a running server: `gatehouse mcp list | revoke` reach the server's MCP credentials
 * through its HTTP API, and `gatehouse sessions revoke` (in another process, on the store) ends the
 * pairing links and MCP credentials that session made.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { gatehouse, pairingUrl, pairWith, request, serve } from "./helpers.ts"

const hostileThread = "thread\u001b]52;c;aGk=\u0007\u202e-x"

const mint = (origin: string, token: string, threadId: string) =>
  Effect.map(
    request(`${origin}/api/auth/mcp-credentials`, {
      method: "POST",
      headers: bearer(token),
      body: { threadId, providerInstanceId: "provider\u001b[31m" }
    }),
    (response) => {
      assert.strictEqual(response.status, 201, response.text)
      return response.json as { id: string; authorizationHeader: string }
    }
  )

const callMcp = (origin: string, authorization: string) =>
  Effect.map(
    request(`${origin}/mcp`, {
      method: "POST",
      headers: { authorization, accept: "application/json, text/event-stream" },
      body: {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "test", version: "1" } }
      }
    }),
    (response) => response.status
  )

describe("gatehouse mcp", () => {
  it.live(
    "list shows the running server's credentials escaped and without tokens; revoke makes /mcp refuse it",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        const pairing = yield* pairingUrl(served)
        const admin = yield* pairWith(pairing.origin, pairing.token)
        const hostile = yield* mint(pairing.origin, admin.token, hostileThread)
        const plain = yield* mint(pairing.origin, admin.token, "thread-plain")

        const listed = yield* gatehouse(["mcp", "list", "--state-dir", stateDir])
        assert.strictEqual(listed.code, 0, listed.stderr)
        assert.include(listed.stdout, hostile.id)
        assert.include(listed.stdout, "thread-plain")
        assert.include(listed.stdout, "thread\\x1B]52;c;aGk=\\x07\\u{202E}-x")
        assert.include(listed.stdout, "provider\\x1B[31m")
        assert.include(listed.stdout, admin.id, "the session that asked for it")
        assert.notMatch(listed.stdout, /[\u001b\u0007\u202e]/)
        for (const credential of [hostile, plain]) {
          assert.notInclude(listed.stdout, credential.authorizationHeader.slice("Bearer ".length))
        }

        assert.strictEqual(yield* callMcp(pairing.origin, plain.authorizationHeader), 200)
        const revoked = yield* gatehouse(["mcp", "revoke", plain.id, "--state-dir", stateDir])
        assert.strictEqual(revoked.code, 0, revoked.stderr)
        assert.include(revoked.stdout, `Revoked MCP credential ${plain.id}`)
        assert.strictEqual(yield* callMcp(pairing.origin, plain.authorizationHeader), 401)
        assert.strictEqual(yield* callMcp(pairing.origin, hostile.authorizationHeader), 200)
        const again = yield* gatehouse(["mcp", "revoke", plain.id, "--state-dir", stateDir])
        assert.strictEqual(again.code, 1)
        assert.include(again.stderr, `No MCP credential ${plain.id}`)

        // The sessions the CLI made for those calls are gone again.
        const sessions = yield* gatehouse(["sessions", "list", "--state-dir", stateDir])
        assert.strictEqual(sessions.code, 0, sessions.stderr)
        assert.notInclude(sessions.stdout, "gatehouse CLI")
      }),
    90_000
  )

  it.live("without a running server: one clear message and exit 1", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      for (const args of [["mcp", "list"], ["mcp", "revoke", "mcp_x"]]) {
        const result = yield* gatehouse([...args, "--state-dir", stateDir])
        assert.strictEqual(result.code, 1)
        assert.include(result.stderr, `No running server found in ${stateDir}`)
        // The CLI's usual error shape (a heading and the message), never a stack trace.
        assert.notMatch(result.stderr, /^\s+at /m, result.stderr)
      }
    }), 60_000)
})

describe("gatehouse sessions revoke beside a running server", () => {
  it.live(
    "ends the session's pairing link and, within about a second, its MCP credential",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        const pairing = yield* pairingUrl(served)
        const admin = yield* pairWith(pairing.origin, pairing.token)
        const link = yield* request(`${pairing.origin}/api/auth/pairing-links`, {
          method: "POST",
          headers: bearer(admin.token),
          body: {}
        })
        assert.strictEqual(link.status, 201, link.text)
        const mcp = yield* mint(pairing.origin, admin.token, "thread-1")
        assert.strictEqual(yield* callMcp(pairing.origin, mcp.authorizationHeader), 200)

        const revoked = yield* gatehouse(["sessions", "revoke", "--state-dir", stateDir, "--", admin.id])
        assert.strictEqual(revoked.code, 0, revoked.stderr)
        const refused = yield* request(`${pairing.origin}/api/auth/bootstrap/bearer`, {
          method: "POST",
          body: { credential: link.json.credential }
        })
        assert.strictEqual(refused.status, 401, refused.text)

        const started = Date.now()
        let status = 200
        while (status === 200 && Date.now() - started < 5_000) {
          status = yield* callMcp(pairing.origin, mcp.authorizationHeader)
          if (status === 200) yield* Effect.sleep("50 millis")
        }
        assert.strictEqual(status, 401)
        assert.isBelow(Date.now() - started, 1_500, "refused within about a second")
      }),
    90_000
  )
})
