/**
 * `@gatehouse-auth/client` in real Chromium (Debian's `chromium`, driven by playwright-core), as the
 * /pair page of `gatehouse serve` (a child process) uses it: the page loads the client under its
 * CSP, pairs through it and opens its WebSocket with a ticket; the guest session lives in memory.
 *
 * Without /usr/bin/chromium these tests are skipped locally (with a note) and FAIL under CI=true.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Fs from "node:fs"
import { type Browser, chromium, type Page } from "playwright-core"
import { pairingUrl, serve } from "./helpers.ts"

const executablePath = "/usr/bin/chromium"
const available = Fs.existsSync(executablePath)
const inCi = process.env.CI === "true" || process.env.CI === "1"
if (!available && !inCi) {
  console.warn(`Skipping the client browser tests: ${executablePath} not found (apt-get install chromium).`)
}

const args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
const timeout = 15_000

const launch = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath, args, timeout: 30_000 })),
  (browser) => Effect.promise(() => browser.close())
)

/** A fresh context (a device of its own) recording its requests, WebSockets and page errors. */
const device = (browser: Browser) =>
  Effect.gen(function*() {
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext()),
      (context) => Effect.promise(() => context.close())
    )
    const page: Page = yield* Effect.promise(() => context.newPage())
    page.setDefaultTimeout(timeout)
    const requests: Array<{ method: string; path: string; body: string | null }> = []
    const sockets: Array<string> = []
    const problems: Array<string> = []
    page.on("request", (request) => {
      const url = new URL(request.url())
      requests.push({ method: request.method(), path: url.pathname, body: request.postData() })
    })
    page.on("websocket", (socket) => sockets.push(socket.url()))
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        problems.push(message.text())
      }
    })
    page.on("pageerror", (error) => problems.push(error.message))
    return { context, page, requests, sockets, problems }
  })

const visible = (page: Page, selector: string) =>
  Effect.promise(() => page.waitForSelector(`${selector}:not([hidden])`))

describe.skipIf(!available && !inCi)("@gatehouse-auth/client in Chromium", () => {
  it.live("the page loads the client under its CSP, pairs through it and opens /ws through openSocket", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
      const pairing = yield* pairingUrl(served)
      const browser = yield* launch
      const { page, problems, requests, sockets } = yield* device(browser)

      const response = yield* Effect.promise(() => page.goto(pairing.url))
      // The page's policy is unchanged: scripts only by nonce (the client's import inherits it).
      const csp = response!.headers()["content-security-policy"]!
      const scriptSrc = csp.split("; ").filter((directive) => directive.startsWith("script-src"))
      assert.strictEqual(scriptSrc.length, 1)
      assert.match(scriptSrc[0]!, /^script-src 'nonce-[A-Za-z0-9+/=]+'$/)
      yield* visible(page, "#paired-view")
      yield* Effect.promise(() => page.waitForSelector("#live[data-state='open']"))

      const paths = requests.map((request) => `${request.method} ${request.path}`)
      assert.include(paths, "GET /pair/client.js")
      const bootstrap = requests.find((request) => request.path === "/api/auth/bootstrap")
      assert.isDefined(bootstrap)
      assert.strictEqual(JSON.parse(bootstrap!.body!).credential, pairing.token)
      assert.include(paths, "POST /api/auth/ws-ticket")
      // The socket carried a ticket (and only a ticket) in its URL; no pairing code in any URL.
      assert.strictEqual(sockets.length, 1)
      const socketUrl = new URL(sockets[0]!)
      assert.strictEqual(socketUrl.pathname, "/ws")
      assert.match(socketUrl.searchParams.get("wsTicket") ?? "", /^v1\./)
      for (const request of requests) assert.notInclude(request.path, pairing.token)
      assert.deepStrictEqual(problems, [])

      // The client module itself, imported into the page: the same API as the package.
      const exported = yield* Effect.promise(() =>
        // A string: vitest would rewrite an `import()` written in this file.
        page.evaluate<Array<string>>(`import("/pair/client.js").then((client) => Object.keys(client).sort())`)
      )
      assert.includeMembers(exported, ["GatehouseClientError", "createAuthClient", "createGuestClient"])
    }))
})
