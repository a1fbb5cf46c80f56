/**
 * MCP credentials shared by two `gatehouse serve` processes on one PostgreSQL: minted on A, used
 * on B with the official MCP SDK, a revoke on A refused by B within a second, and A stopping (a
 * graceful SIGTERM, which revokes in-memory credentials on SQLite) leaves B serving a credential
 * minted on A. Needs `GATEHOUSE_TEST_DATABASE_URL`; skipped locally without one, a failure in CI.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, tempDirectory } from "@gatehouse-auth/testing/support"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import { exited, pairingUrl, pairWith, request, serve } from "./helpers.ts"

/** `whoami` through the official SDK at `endpoint` with `authorization`: the thread id, or the HTTP status. */
const whoamiVia = (endpoint: string, authorization: string) =>
  Effect.promise(async () => {
    const client = new Client({ name: "pg-interop-test", version: "1.0.0" })
    const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
      requestInit: { headers: { Authorization: authorization } }
    })
    try {
      await client.connect(transport)
      const result = await client.callTool({ name: "whoami", arguments: {} })
      const content = result.content as ReadonlyArray<{ text: string }>
      return (JSON.parse(content[0]!.text) as { threadId: string }).threadId
    } catch (error) {
      return (error as { code?: number }).code ?? String(error)
    } finally {
      await client.close().catch(() => undefined)
    }
  })

const mint = (origin: string, admin: string, threadId: string) =>
  Effect.map(
    request(`${origin}/api/auth/mcp-credentials`, {
      method: "POST",
      headers: bearer(admin),
      body: { threadId, providerInstanceId: "agent" }
    }),
    (response) => {
      assert.strictEqual(response.status, 201, response.text)
      return response.json as { id: string; authorizationHeader: string }
    }
  )

requirePostgresInCi()

describe.skipIf(unavailable !== undefined)("MCP credentials across two instances on one PostgreSQL", () => {
  it.live(
    "minted on A, used on B; revoked on A, refused on B within 1 s; A stopped, B still serves",
    () =>
      Effect.gen(function*() {
        const url = yield* freshSchemaUrl
        const env = { GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY: Crypto.randomBytes(32).toString("base64url") }
        const [a, b] = yield* Effect.all([
          serve(["--port", "0", "--state-dir", yield* tempDirectory, "--database-url", url], { env }),
          serve(["--port", "0", "--state-dir", yield* tempDirectory, "--database-url", url], { env })
        ])
        const [atA, atB] = yield* Effect.all([pairingUrl(a), pairingUrl(b)], { concurrency: 2 })
        const admin = yield* pairWith(atA.origin, atA.token)

        const first = yield* mint(atA.origin, admin.token, "thread-shared")
        assert.strictEqual(yield* whoamiVia(`${atB.origin}/mcp`, first.authorizationHeader), "thread-shared")
        // B lists it too (the list is the database's, not one process's memory).
        const listed = yield* request(`${atB.origin}/api/auth/mcp-credentials`, { headers: bearer(admin.token) })
        assert.deepStrictEqual(listed.json.credentials.map((c: { id: string }) => c.id), [first.id])

        const revoked = yield* request(`${atA.origin}/api/auth/mcp-credentials/${first.id}`, {
          method: "DELETE",
          headers: bearer(admin.token)
        })
        assert.deepStrictEqual(revoked.json, { revoked: true })
        const revokedAt = Date.now()
        let refused: unknown = undefined
        while (Date.now() - revokedAt < 1_000) {
          refused = yield* whoamiVia(`${atB.origin}/mcp`, first.authorizationHeader)
          if (refused === 401) break
        }
        assert.strictEqual(refused, 401)
        assert.isBelow(Date.now() - revokedAt, 1_000)

        const second = yield* mint(atA.origin, admin.token, "thread-survivor")
        assert.strictEqual(yield* whoamiVia(`${atB.origin}/mcp`, second.authorizationHeader), "thread-survivor")
        a.child.kill("SIGTERM")
        yield* exited(a)
        assert.strictEqual(yield* whoamiVia(`${atB.origin}/mcp`, second.authorizationHeader), "thread-survivor")
      }),
    90_000
  )
})
