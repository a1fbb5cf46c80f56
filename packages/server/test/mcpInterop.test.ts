/**
 * The reference server's `/mcp` with MCP clients no one here wrote: the official TypeScript SDK's
 * `Client` over `StreamableHTTPClientTransport`, given nothing but the minted `Authorization`
 * header, and `effect/ai`'s own `McpClient`. Over loopback, on `GatehouseServer.layer`.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams
} from "@modelcontextprotocol/sdk/client/auth.js"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect, Layer, Redacted, Schema } from "effect"
import { McpClient, McpProtocol } from "effect/ai"
import { FetchHttpClient } from "effect/http"
import { GatehouseServer } from "../src/index.ts"
import { request } from "./helpers.ts"

const start = Effect.gen(function*() {
  const stateDir = yield* tempDirectory
  const context = yield* Layer.build(GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir }))
  const services = GatehouseServer.services(context)
  const origin = services.info.baseUrl
  const admin = Redacted.value(
    (yield* services.sessions.issue({ subject: "owner", scopes: ["write:access"], method: "pairing" })).token
  )
  /** A credential minted over HTTP, as an agent's launcher would get it. */
  const mint = (threadId: string, providerInstanceId = "agent-a") =>
    Effect.gen(function*() {
      const minted = yield* request(`${origin}/api/auth/mcp-credentials`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}` },
        body: { threadId, providerInstanceId }
      })
      assert.strictEqual(minted.status, 201, minted.text)
      return minted.json as { id: string; endpoint: string; authorizationHeader: string }
    })
  return { ...services, origin, mint }
})

/** An SDK client connected with nothing but the header; closed with the test's scope. */
const sdkClient = (endpoint: string, authorization?: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "sdk-interop-test", version: "1.0.0" })
      const transport = new StreamableHTTPClientTransport(new URL(endpoint), {
        requestInit: authorization === undefined ? {} : { headers: { Authorization: authorization } }
      })
      const connected = await client.connect(transport).then(() => undefined, (error: unknown) => error)
      return { client, connected }
    }),
    ({ client }) => Effect.promise(() => client.close().catch(() => undefined))
  )

const whoami = (client: Client) =>
  Effect.promise(() =>
    client.callTool({ name: "whoami", arguments: {} }).then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error })
    )
  )

const textOf = (result: unknown): unknown => {
  const content = (result as { content: ReadonlyArray<{ type: string; text: string }> }).content
  assert.strictEqual(content[0]!.type, "text")
  return JSON.parse(content[0]!.text)
}

describe("/mcp with the official MCP TypeScript SDK", () => {
  it.live("connects with the minted header, lists the tools, calls whoami and echo", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* start
      const minted = yield* server.mint("thread-42", "agent-b")
      assert.strictEqual(minted.endpoint, `${server.origin}/mcp`)
      const { client, connected } = yield* sdkClient(minted.endpoint, minted.authorizationHeader)
      assert.isUndefined(connected)
      assert.strictEqual(client.getServerVersion()?.name, "gatehouse")

      const tools = yield* Effect.promise(() => client.listTools())
      assert.deepStrictEqual(tools.tools.map((tool) => tool.name).sort(), ["echo", "whoami"])

      const me = yield* whoami(client)
      assert.isTrue(me.ok)
      if (me.ok) {
        assert.notStrictEqual(me.result.isError, true)
        assert.deepStrictEqual(textOf(me.result), {
          threadId: "thread-42",
          providerInstanceId: "agent-b",
          capabilities: [],
          via: "credential"
        })
      }
      const echoed = yield* Effect.promise(() => client.callTool({ name: "echo", arguments: { text: "hello" } }))
      assert.deepStrictEqual(textOf(echoed), { threadId: "thread-42", text: "hello" })
    })))

  it.live("without the header, or with a revoked one, the SDK surfaces the 401; its resource_metadata resolves", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* start
      const endpoint = `${server.origin}/mcp`
      const anonymous = yield* sdkClient(endpoint)
      assert.instanceOf(anonymous.connected, StreamableHTTPError)
      assert.strictEqual((anonymous.connected as StreamableHTTPError).code, 401)

      const minted = yield* server.mint("thread-r")
      const { client, connected } = yield* sdkClient(endpoint, minted.authorizationHeader)
      assert.isUndefined(connected)
      assert.isTrue((yield* whoami(client)).ok)
      yield* server.mcp.revokeThread("thread-r")
      const after = yield* whoami(client)
      assert.isFalse(after.ok)
      if (!after.ok) {
        assert.instanceOf(after.error, StreamableHTTPError)
        assert.strictEqual((after.error as StreamableHTTPError).code, 401)
      }
      const revokedAgain = yield* sdkClient(endpoint, minted.authorizationHeader)
      assert.strictEqual((revokedAgain.connected as StreamableHTTPError).code, 401)

      // What the SDK reads from the challenge, and the document it resolves to, with its own parsers.
      const challenged = yield* Effect.promise(() =>
        fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
        })
      )
      assert.strictEqual(challenged.status, 401)
      const { resourceMetadataUrl } = extractWWWAuthenticateParams(challenged)
      assert.strictEqual(resourceMetadataUrl?.href, `${server.origin}/.well-known/oauth-protected-resource/mcp`)
      const metadata = yield* Effect.promise(() =>
        discoverOAuthProtectedResourceMetadata(endpoint, { resourceMetadataUrl: resourceMetadataUrl! })
      )
      assert.strictEqual(metadata.resource, endpoint)
      assert.deepStrictEqual(metadata.bearer_methods_supported, ["header"])
    })))

  it.live("re-issuing the thread's credential: the old client fails, a client with the new header works", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* start
      const first = yield* server.mint("thread-x")
      const old = yield* sdkClient(first.endpoint, first.authorizationHeader)
      assert.isTrue((yield* whoami(old.client)).ok)
      const second = yield* server.mint("thread-x")
      const stale = yield* whoami(old.client)
      assert.isFalse(stale.ok)
      if (!stale.ok) assert.strictEqual((stale.error as StreamableHTTPError).code, 401)
      const fresh = yield* sdkClient(second.endpoint, second.authorizationHeader)
      assert.isUndefined(fresh.connected)
      const me = yield* whoami(fresh.client)
      assert.isTrue(me.ok)
      if (me.ok) assert.strictEqual((textOf(me.result) as { threadId: string }).threadId, "thread-x")
    })))

  it.live("a foreign Origin is 403 before anything MCP; a session is bound to its thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* start
      const a = yield* server.mint("thread-a")
      const b = yield* server.mint("thread-b")
      const post = (authorization: string, body: unknown, headers: Record<string, string> = {}) =>
        Effect.promise(() =>
          fetch(`${server.origin}/mcp`, {
            method: "POST",
            headers: {
              authorization,
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              ...headers
            },
            body: JSON.stringify(body)
          })
        )
      const initialize = {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } }
      }
      const foreign = yield* post(a.authorizationHeader, initialize, { origin: "https://evil.example" })
      assert.strictEqual(foreign.status, 403)
      // The server's own origin passes the guard (a page it serves may call its MCP endpoint).
      const own = yield* post(a.authorizationHeader, initialize, { origin: server.origin })
      assert.strictEqual(own.status, 200)

      const opened = yield* post(a.authorizationHeader, initialize)
      assert.strictEqual(opened.status, 200)
      const sessionId = opened.headers.get("mcp-session-id")!
      assert.isString(sessionId)
      const list = { jsonrpc: "2.0", id: 2, method: "tools/list" }
      const session = { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" }
      yield* post(a.authorizationHeader, { jsonrpc: "2.0", method: "notifications/initialized" }, session)
      assert.strictEqual((yield* post(a.authorizationHeader, list, session)).status, 200)
      // Thread b's credential cannot ride on thread a's session.
      assert.strictEqual((yield* post(b.authorizationHeader, list, session)).status, 404)
    })))
})

describe("/mcp with effect's own McpClient (Streamable HTTP, MCP 2026-07-28 and 2025-11-25)", () => {
  for (const protocol of [McpProtocol.v2026_07_28, McpProtocol.v2025_11_25]) {
    it.live(`${protocol.protocolVersion}: lists the tools and calls whoami; a revoked header fails`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* start
        const minted = yield* server.mint(`thread-${protocol.protocolVersion}`)
        const connect = (authorization: string) =>
          Effect.gen(function*() {
            const transport = yield* McpClient.http({
              url: minted.endpoint,
              protocol,
              headers: { authorization }
            })
            return yield* McpClient.make({ name: "effect-interop-test", version: "1.0.0" }).pipe(
              Effect.provideService(McpClient.Transport, transport)
            )
          }).pipe(Effect.provide(FetchHttpClient.layer))
        const client = yield* connect(minted.authorizationHeader)
        const tools = yield* client.listTools()
        assert.deepStrictEqual(tools.map((tool) => tool.name).sort(), ["echo", "whoami"])
        const me = yield* client.callTool({
          tool: tools.find((tool) => tool.name === "whoami")!,
          schema: Schema.Struct({ threadId: Schema.String })
        })
        assert.strictEqual(me.threadId, `thread-${protocol.protocolVersion}`)

        yield* server.mcp.revokeThread(`thread-${protocol.protocolVersion}`)
        const refused = yield* Effect.flip(client.listTools())
        assert.include(JSON.stringify(refused), "401")
      })))
  }
})
