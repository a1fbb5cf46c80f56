/**
 * Client ID metadata documents against the reference server: the client's `client_id` is an
 * `https` URL served by a loopback HTTPS server in this test (a certificate made by openssl for
 * this run, trusted through the test option `ca`; loopback allowed through the test option
 * `allowPrivateAddresses`). `@modelcontextprotocol/client` 2.x (via 127.0.0.1) and the SDK 1.x
 * `auth()` (via localhost) complete the flow with it; a
 * document whose `client_id` differs from its URL, one over 5 KB, one behind a redirect, and any
 * document on a private address (without the test option) are refused.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  auth,
  Client,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  StreamableHTTPClientTransport
} from "@modelcontextprotocol/client"
import * as Sdk1Auth from "@modelcontextprotocol/sdk/client/auth.js"
import { Client as Sdk1Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport as Sdk1Transport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Effect } from "effect"
import { documentServer, selfSigned } from "./clientDocuments.ts"
import { approveInBrowser, authorizationUrl, openPage, pairBrowser, pkce, start } from "./oauth.ts"

const provider = (clientMetadataUrl: string) => {
  let tokens: any = undefined
  let client: any = undefined
  let verifier = ""
  const redirects: Array<URL> = []
  const value: OAuthClientProvider = {
    clientMetadataUrl,
    get redirectUrl() {
      return "http://localhost/callback"
    },
    get clientMetadata(): OAuthClientMetadata {
      return { client_name: "Document agent", redirect_uris: ["http://localhost/callback"] }
    },
    clientInformation: () => client,
    saveClientInformation: (info) => void (client = info),
    tokens: () => tokens,
    saveTokens: (saved) => void (tokens = saved),
    redirectToAuthorization: (url) => void redirects.push(url),
    saveCodeVerifier: (saved) => void (verifier = saved),
    codeVerifier: () => verifier
  }
  return { provider: value, redirects }
}

describe("client ID metadata documents", () => {
  it.live(
    "the 2.x client identifies itself by its document URL and completes the flow; the page shows its host",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const tls = yield* selfSigned
        const documents = yield* documentServer(tls)
        const server = yield* start({
          oauth: { clientMetadataDocuments: { allowPrivateAddresses: true, ca: tls.cert } }
        })
        const endpoint = `${server.origin}/mcp`
        const cookie = yield* pairBrowser(server)
        const metadata = yield* Effect.promise(async () =>
          (await fetch(`${server.origin}/.well-known/oauth-authorization-server`)).json() as Promise<any>
        )
        assert.isTrue(metadata.client_id_metadata_document_supported)

        const clientId = `${documents.base}/client.json`
        const agent = provider(clientId)
        assert.strictEqual(yield* Effect.promise(() => auth(agent.provider, { serverUrl: endpoint })), "REDIRECT")
        const authorization = agent.redirects[0]!
        assert.strictEqual(authorization.searchParams.get("client_id"), clientId)
        const page = yield* openPage(authorization, cookie)
        assert.include(page.html, `id="client-id-host">127.0.0.1:${new URL(documents.base).port}<`)
        const callback = yield* approveInBrowser(authorization, cookie)
        const code = callback.searchParams.get("code")!
        const exchanged = yield* Effect.promise(() =>
          auth(agent.provider, { serverUrl: endpoint, authorizationCode: code, iss: callback.searchParams.get("iss")! })
        )
        assert.strictEqual(exchanged, "AUTHORIZED")
        const whoami = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new Client({ name: "cimd-interop", version: "1.0.0" })
            await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: agent.provider }))
            return client
          }),
          (client) => Effect.promise(() => client.close().catch(() => undefined))
        ).pipe(Effect.flatMap((client) => Effect.promise(() => client.callTool({ name: "whoami", arguments: {} }))))
        const me = JSON.parse((whoami.content as Array<{ text: string }>)[0]!.text)
        assert.strictEqual(me.via, "oauth")
        assert.strictEqual(me.client.clientId, clientId)
        // Fetched once: the document's max-age=120 is kept (the page, the approval and the exchange reuse it).
        assert.strictEqual(documents.fetched.filter((path) => path === "/client.json").length, 1)
      })),
    30_000
  )

  it.live(
    "the SDK 1.x auth() identifies itself by its document URL too, and reaches whoami",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const tls = yield* selfSigned
        const documents = yield* documentServer(tls)
        const server = yield* start({
          oauth: { clientMetadataDocuments: { allowPrivateAddresses: true, ca: tls.cert } }
        })
        const endpoint = `http://localhost:${server.port}/mcp`
        const cookie = yield* pairBrowser(server, "localhost")
        const clientId = `${documents.base}/client.json`
        const agent = provider(clientId)
        const legacy = agent.provider as unknown as Sdk1Auth.OAuthClientProvider
        assert.strictEqual(yield* Effect.promise(() => Sdk1Auth.auth(legacy, { serverUrl: endpoint })), "REDIRECT")
        const authorization = agent.redirects[0]!
        assert.strictEqual(authorization.searchParams.get("client_id"), clientId)
        const code = (yield* approveInBrowser(authorization, cookie)).searchParams.get("code")!
        assert.strictEqual(
          yield* Effect.promise(() => Sdk1Auth.auth(legacy, { serverUrl: endpoint, authorizationCode: code })),
          "AUTHORIZED"
        )
        const me = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new Sdk1Client({ name: "cimd-sdk1", version: "1.0.0" })
            await client.connect(new Sdk1Transport(new URL(endpoint), { authProvider: legacy }))
            return client
          }),
          (client) => Effect.promise(() => client.close().catch(() => undefined))
        ).pipe(Effect.flatMap((client) => Effect.promise(() => client.callTool({ name: "whoami", arguments: {} }))))
        const whoami = JSON.parse((me.content as Array<{ text: string }>)[0]!.text)
        assert.strictEqual(whoami.client.clientId, clientId)
      })),
    30_000
  )

  it.live(
    "refused: a client_id that differs from the URL, over 5 KB, behind a redirect, a private address",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const tls = yield* selfSigned
        const documents = yield* documentServer(tls)
        const server = yield* start({
          oauth: { clientMetadataDocuments: { allowPrivateAddresses: true, ca: tls.cert } }
        })
        const cookie = yield* pairBrowser(server)
        const flow = (clientId: string) => ({
          origin: server.origin,
          clientId,
          redirectUri: "http://localhost/callback",
          state: "s",
          ...pkce()
        })
        const refused = (clientId: string, on = server) =>
          Effect.gen(function*() {
            const page = yield* openPage(authorizationUrl({ ...flow(clientId), origin: on.origin }), cookie)
            assert.strictEqual(page.status, 400, clientId)
            assert.include(page.html, "invalid_client")
            assert.isNull(page.headers.get("location"))
          })
        yield* refused(`${documents.base}/mismatch.json`)
        yield* refused(`${documents.base}/big.json`)
        yield* refused(`${documents.base}/redirect.json`)
        // Each was fetched and refused; the redirect was not followed.
        assert.deepStrictEqual(documents.fetched, ["/mismatch.json", "/big.json", "/redirect.json"])
        // URL rules: no dot segments, no fragment, no userinfo, a path.
        for (
          const bad of [`${documents.base}/a/../client.json`, `${documents.base}/client.json#x`, `${documents.base}/`]
        ) {
          yield* refused(bad)
        }
        // The valid document, but this server may not reach private addresses: refused, never fetched.
        const strict = yield* start({ oauth: { clientMetadataDocuments: { ca: tls.cert } } })
        const before = documents.fetched.length
        const strictCookie = yield* pairBrowser(strict)
        const page = yield* openPage(
          authorizationUrl({ ...flow(`${documents.base}/client.json`), origin: strict.origin }),
          strictCookie
        )
        assert.strictEqual(page.status, 400)
        assert.include(page.html, "invalid_client")
        assert.strictEqual(documents.fetched.length, before)
      })),
    30_000
  )
})
