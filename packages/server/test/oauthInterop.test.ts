/**
 * MCP clients no one here wrote connect to the reference server's `/mcp` by the MCP authorization
 * spec's own discovery: the official TypeScript SDK 1.x `auth()` with an `OAuthClientProvider`
 * (discovery from the 401, dynamic registration, PKCE, `resource`, the code exchange), consent
 * approved by a browser paired for real and driven over HTTP, then `tools/list` and `whoami`.
 */
import { assert, describe, it } from "@effect/vitest"
import { auth, type OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens
} from "@modelcontextprotocol/sdk/shared/auth.js"
import { Effect } from "effect"
import { approveInBrowser, pairBrowser, start } from "./oauth.ts"

/** An in-memory provider, as a native MCP client keeps its state; the redirect is caught by the test. */
const memoryProvider = (redirectUrl: string) => {
  let client: OAuthClientInformationMixed | undefined
  let tokens: OAuthTokens | undefined
  let verifier = ""
  const redirects: Array<URL> = []
  const provider: OAuthClientProvider = {
    get redirectUrl() {
      return redirectUrl
    },
    get clientMetadata(): OAuthClientMetadata {
      return {
        client_name: "SDK interop agent",
        redirect_uris: [redirectUrl],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none"
      }
    },
    clientInformation: () => client,
    saveClientInformation: (info) => void (client = info),
    tokens: () => tokens,
    saveTokens: (saved) => void (tokens = saved),
    redirectToAuthorization: (url) => void redirects.push(url),
    saveCodeVerifier: (saved) => void (verifier = saved),
    codeVerifier: () => verifier
  }
  return { provider, redirects, client: () => client, tokens: () => tokens }
}

const textOf = (result: unknown): any => {
  const content = (result as { content: ReadonlyArray<{ type: string; text: string }> }).content
  return JSON.parse(content[0]!.text)
}

const connectAndCallWhoami = (endpoint: string, provider: OAuthClientProvider) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "sdk-oauth-interop", version: "1.0.0" })
      await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }))
      return client
    }),
    (client) => Effect.promise(() => client.close().catch(() => undefined))
  ).pipe(Effect.flatMap((client) =>
    Effect.promise(async () => ({
      tools: (await client.listTools()).tools.map((tool) => tool.name).sort(),
      whoami: textOf(await client.callTool({ name: "whoami", arguments: {} }))
    }))
  ))

for (const host of ["localhost", "127.0.0.1"]) {
  describe(`the official MCP SDK 1.x auth() via ${host}`, () => {
    it.live(
      "discovers, registers, gets a browser's approval, exchanges the code, then lists tools and calls whoami",
      () =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* start()
          const origin = `http://${host}:${server.port}`
          const endpoint = `${origin}/mcp`
          const cookie = yield* pairBrowser(server, host)
          const agent = memoryProvider("http://127.0.0.1:8976/callback")

          const first = yield* Effect.promise(() => auth(agent.provider, { serverUrl: endpoint }))
          assert.strictEqual(first, "REDIRECT")
          assert.strictEqual(agent.redirects.length, 1)
          const authorization = agent.redirects[0]!
          // Everything derived from the Host the client used.
          assert.strictEqual(authorization.origin, origin)
          assert.strictEqual(authorization.searchParams.get("resource"), endpoint)
          assert.strictEqual(authorization.searchParams.get("code_challenge_method"), "S256")
          assert.match(agent.client()!.client_id, /^gc1\./)

          const callback = yield* approveInBrowser(authorization, cookie)
          assert.strictEqual(`${callback.origin}${callback.pathname}`, "http://127.0.0.1:8976/callback")
          assert.strictEqual(callback.searchParams.get("iss"), origin)
          assert.strictEqual(callback.searchParams.get("state"), authorization.searchParams.get("state"))
          const code = callback.searchParams.get("code")!
          assert.match(code, /^gac_/)

          const second = yield* Effect.promise(() =>
            auth(agent.provider, { serverUrl: endpoint, authorizationCode: code })
          )
          assert.strictEqual(second, "AUTHORIZED")
          const tokens = agent.tokens()!
          assert.strictEqual(tokens.token_type.toLowerCase(), "bearer")
          assert.match(tokens.refresh_token!, /^grt_/)

          const { tools, whoami } = yield* connectAndCallWhoami(endpoint, agent.provider)
          assert.deepStrictEqual(tools, ["echo", "whoami"])
          assert.strictEqual(whoami.via, "oauth")
          assert.strictEqual(whoami.client.clientName, "SDK interop agent")
          assert.strictEqual(whoami.client.clientId, agent.client()!.client_id)
          assert.strictEqual(whoami.client.subject, "owner")

          // The grant shows in the session list as the client, via OAuth.
          const listed = (yield* server.sessions.list).filter((session) => session.method === "oauth")
          assert.strictEqual(listed.length, 1)
          assert.strictEqual(listed[0]!.client.label, "SDK interop agent")
          assert.strictEqual(listed[0]!.client.browser, "via OAuth")
        })),
      30_000
    )
  })
}
