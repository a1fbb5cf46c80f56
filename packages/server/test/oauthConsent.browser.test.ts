/**
 * The OAuth consent page in real Chromium (Debian's `chromium`, playwright-core) against the
 * reference server: a browser with no session pairs by typing a pairing code on the page, then
 * sees the client's name (marked as its own claim), the redirect host with the local-address
 * warning and the scopes; approving sends it to the client's loopback redirect URI (a server in
 * this test) with `code`, `state` and `iss`, which the client then exchanges. A client identified by
 * a metadata document (a loopback HTTPS server in the test) has the host of its `client_id` shown.
 *
 * Skipped locally without /usr/bin/chromium (with a note); a failure under CI=true.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { launch, noteIfSkipped, skipped, timeout } from "./chromium.ts"
import { documentServer, selfSigned } from "./clientDocuments.ts"
import { authorizationUrl, newFlow, pairBrowser, pkce, postToken, start } from "./oauth.ts"

noteIfSkipped("the OAuth consent page browser tests")

/** A loopback HTTP server standing in for the native client's redirect listener. */
const callbackServer = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: Http.Server; port: number; hits: Array<URL> }>((resolve) => {
      const hits: Array<URL> = []
      const server = Http.createServer((request, response) => {
        hits.push(new URL(request.url ?? "/", `http://127.0.0.1`))
        response.writeHead(200, { "content-type": "text/plain" }).end("You can close this window.")
      })
      server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, hits }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

describe.skipIf(skipped)("the OAuth consent page in Chromium", () => {
  it.live(
    "pair on the page, see the client's claims and the redirect host, approve: code, state and iss arrive",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* start()
        const callback = yield* callbackServer
        const flow = yield* newFlow(server.origin, "http://127.0.0.1/callback", "Chromium <b>Agent</b>")
        const url = authorizationUrl(flow, { redirect_uri: `http://127.0.0.1:${callback.port}/callback` })

        const browser = yield* launch
        const context = yield* Effect.acquireRelease(
          Effect.promise(() => browser.newContext()),
          (context) => Effect.promise(() => context.close())
        )
        const page = yield* Effect.promise(() => context.newPage())
        page.setDefaultTimeout(timeout)
        const response = yield* Effect.promise(() => page.goto(url.href))
        assert.strictEqual(response?.status(), 200)
        const headers = response!.headers()
        assert.include(headers["content-security-policy"], "frame-ancestors 'none'")
        assert.strictEqual(headers["cache-control"], "no-store")

        // No session yet: the page asks for a pairing code, and shows what it can already.
        const name = yield* Effect.promise(() => page.textContent("#client-name"))
        assert.include(name!, "Chromium <b>Agent</b>")
        const issued = yield* server.serverAuth.issueStartupPairingUrl(server.origin)
        yield* Effect.promise(() => page.fill("input[name=pairing_code]", Redacted.value(issued.credential)))
        yield* Effect.promise(() =>
          Promise.all([page.waitForURL(/\/oauth\/authorize\?/), page.click("button[type=submit]")])
        )

        // Paired: the consent proper.
        yield* Effect.promise(() => page.waitForSelector("#approve"))
        assert.include((yield* Effect.promise(() => page.textContent("#client-name")))!, "Chromium <b>Agent</b>")
        assert.include((yield* Effect.promise(() => page.textContent("body")))!, "its own claim")
        assert.strictEqual(yield* Effect.promise(() => page.textContent("#redirect-host")), "127.0.0.1")
        assert.isNotNull(yield* Effect.promise(() => page.$("#local-warning")))
        const scopes = yield* Effect.promise(() =>
          page.$$eval("#scopes li", (items) => items.map((item) => item.textContent))
        )
        assert.deepStrictEqual(scopes, ["read:hello", "write:hello", "read:runs", "write:tasks"])

        yield* Effect.promise(() =>
          Promise.all([
            page.waitForURL(new RegExp(`^http://127\\.0\\.0\\.1:${callback.port}/callback`)),
            page.click("#approve")
          ])
        )
        // (Chromium asks the callback server for /favicon.ico too.)
        const hits = callback.hits.filter((hit) => hit.pathname === "/callback")
        assert.strictEqual(hits.length, 1)
        const hit = hits[0]!
        assert.strictEqual(hit.searchParams.get("state"), flow.state)
        assert.strictEqual(hit.searchParams.get("iss"), server.origin)
        const code = hit.searchParams.get("code")!
        const exchanged = yield* postToken(`${server.origin}/oauth/token`, {
          grant_type: "authorization_code",
          code,
          client_id: flow.clientId,
          redirect_uri: `http://127.0.0.1:${callback.port}/callback`,
          code_verifier: flow.verifier
        })
        assert.strictEqual(exchanged.status, 200, exchanged.text)
      })),
    60_000
  )

  it.live(
    "a metadata-document client: the page shows its name, its client_id host and the redirect host",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const tls = yield* selfSigned
        const documents = yield* documentServer(tls)
        const server = yield* start({
          oauth: { clientMetadataDocuments: { allowPrivateAddresses: true, ca: tls.cert } }
        })
        const callback = yield* callbackServer
        const redirectUri = `http://localhost:${callback.port}/callback`
        const flow = {
          origin: server.origin,
          clientId: `${documents.base}/client.json`,
          redirectUri,
          state: "doc-state",
          ...pkce()
        }
        const browser = yield* launch
        const context = yield* Effect.acquireRelease(
          Effect.promise(() => browser.newContext()),
          (context) => Effect.promise(() => context.close())
        )
        const cookie = (yield* pairBrowser(server)).split("=")
        yield* Effect.promise(() =>
          context.addCookies([{ name: cookie[0]!, value: cookie.slice(1).join("="), url: server.origin }])
        )
        const page = yield* Effect.promise(() => context.newPage())
        page.setDefaultTimeout(timeout)
        yield* Effect.promise(() => page.goto(authorizationUrl(flow).href))
        yield* Effect.promise(() => page.waitForSelector("#approve"))
        assert.include((yield* Effect.promise(() => page.textContent("#client-name")))!, "Document agent")
        assert.strictEqual(
          yield* Effect.promise(() => page.textContent("#client-id-host")),
          `127.0.0.1:${new URL(documents.base).port}`
        )
        assert.strictEqual(yield* Effect.promise(() => page.textContent("#redirect-host")), "localhost")
        yield* Effect.promise(() =>
          Promise.all([
            page.waitForURL(new RegExp(`^http://localhost:${callback.port}/callback`)),
            page.click("#approve")
          ])
        )
        const hit = callback.hits.find((each) => each.pathname === "/callback")!
        assert.strictEqual(hit.searchParams.get("state"), "doc-state")
        assert.strictEqual(hit.searchParams.get("iss"), server.origin)
        assert.match(hit.searchParams.get("code")!, /^gac_/)
      })),
    60_000
  )
})
