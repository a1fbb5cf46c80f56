/**
 * The current line of the official TypeScript MCP client, `@modelcontextprotocol/client` 2.x,
 * completes the MCP authorization flow against the reference server by its own discovery: it
 * checks the RFC 8414 issuer echo and the RFC 9207 `iss` of the authorization response. Consent is
 * approved by a browser paired for real, driven over HTTP. Then `tools/list` and `whoami`.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  auth,
  Client,
  IssuerMismatchError,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  StreamableHTTPClientTransport
} from "@modelcontextprotocol/client"
import { Effect } from "effect"
import { approveInBrowser, pairBrowser, start } from "./oauth.ts"

const memoryProvider = (redirectUrl: string) => {
  let client: any = undefined
  let tokens: any = undefined
  let verifier = ""
  const redirects: Array<URL> = []
  const provider: OAuthClientProvider = {
    get redirectUrl() {
      return redirectUrl
    },
    get clientMetadata(): OAuthClientMetadata {
      return {
        client_name: "Client 2.x agent",
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

for (const host of ["localhost", "127.0.0.1"]) {
  describe(`@modelcontextprotocol/client 2.x via ${host}`, () => {
    it.live(
      "discovery, registration, approval, iss checked, code exchanged; tools/list and whoami",
      () =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* start()
          const origin = `http://${host}:${server.port}`
          const endpoint = `${origin}/mcp`
          const cookie = yield* pairBrowser(server, host)
          const agent = memoryProvider("http://localhost/callback")

          assert.strictEqual(yield* Effect.promise(() => auth(agent.provider, { serverUrl: endpoint })), "REDIRECT")
          const authorization = agent.redirects[0]!
          assert.strictEqual(authorization.origin, origin)
          assert.strictEqual(authorization.searchParams.get("resource"), endpoint)

          // The client listens on a port it chose: the registered loopback URI with any port matches.
          authorization.searchParams.set("redirect_uri", "http://localhost:41123/callback")
          const callback = yield* approveInBrowser(authorization, cookie)
          assert.strictEqual(callback.host, "localhost:41123")
          const iss = callback.searchParams.get("iss")!
          assert.strictEqual(iss, origin)

          // A mixed-up issuer is refused by the client itself (RFC 9207), before the code is redeemed.
          const mixedUp = yield* Effect.promise(() =>
            auth(agent.provider, {
              serverUrl: endpoint,
              authorizationCode: callback.searchParams.get("code")!,
              iss: "https://attacker.example"
            }).then(() => undefined, (error: unknown) => error)
          )
          assert.instanceOf(mixedUp, IssuerMismatchError)

          // A fresh authorization, this time exchanged with the right `iss`.
          agent.redirects.length = 0
          assert.strictEqual(yield* Effect.promise(() => auth(agent.provider, { serverUrl: endpoint })), "REDIRECT")
          const again = agent.redirects[0]!
          const code = (yield* approveInBrowser(again, cookie)).searchParams.get("code")!
          const exchanged = yield* Effect.promise(() =>
            auth(agent.provider, { serverUrl: endpoint, authorizationCode: code, iss: origin })
          )
          assert.strictEqual(exchanged, "AUTHORIZED")

          const result = yield* Effect.acquireRelease(
            Effect.promise(async () => {
              const client = new Client({ name: "client2-oauth-interop", version: "1.0.0" })
              await client.connect(
                new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: agent.provider })
              )
              return client
            }),
            (client) => Effect.promise(() => client.close().catch(() => undefined))
          ).pipe(Effect.flatMap((client) =>
            Effect.promise(async () => ({
              tools: (await client.listTools()).tools.map((tool) => tool.name).sort(),
              whoami: textOf(await client.callTool({ name: "whoami", arguments: {} }))
            }))
          ))
          assert.deepStrictEqual(result.tools, ["echo", "whoami"])
          assert.strictEqual(result.whoami.via, "oauth")
          assert.strictEqual(result.whoami.client.clientName, "Client 2.x agent")
        })),
      30_000
    )
  })
}
