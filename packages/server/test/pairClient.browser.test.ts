/**
 * `@gatehouse-auth/client` in real Chromium (Debian's `chromium`, driven by playwright-core), as the
 * /pair page of `gatehouse serve` (a child process) uses it: the page loads the client under its
 * CSP, pairs through it and opens its WebSocket with a ticket; the guest token lives in memory
 * only, a legacy token planted in `localStorage` migrates once, and pairing promotes the guest.
 *
 * Without /usr/bin/chromium these tests are skipped locally (with a note) and FAIL under CI=true.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Ids, SignedToken, SigningKeyring } from "@gatehouse-auth/core"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import type { Browser, Page } from "playwright-core"
import * as Stores from "../src/Stores.ts"
import { launch, noteIfSkipped, skipped, timeout } from "./chromium.ts"
import { pairingUrl, serve } from "./helpers.ts"

// Names that exist inside the page: page.evaluate callbacks run there, not in Node.
declare const localStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void }
declare const sessionStorage: { length: number; key(index: number): string | null; getItem(key: string): string | null }
declare const document: { cookie: string }

noteIfSkipped("the client browser tests")

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
    /** The bodies of the guest-session answers (200s). */
    const guests: Array<{ guestId: string; token: string }> = []
    page.on("response", (response) => {
      if (new URL(response.url()).pathname === "/api/auth/guest-session" && response.status() === 200) {
        response.json().then((body) => guests.push(body), () => {})
      }
    })
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
    return { context, page, requests, sockets, problems, guests }
  })

const visible = (page: Page, selector: string) =>
  Effect.promise(() => page.waitForSelector(`${selector}:not([hidden])`))

/** Everything the page's script can read: both storages, whole, and `document.cookie`. */
const readableByScript = (page: Page) =>
  Effect.promise(() =>
    page.evaluate(() => {
      const dump = (
        storage: { length: number; key(index: number): string | null; getItem(key: string): string | null }
      ) => Array.from({ length: storage.length }, (_, i) => `${storage.key(i)}=${storage.getItem(storage.key(i)!)}`)
      return [...dump(localStorage as never), ...dump(sessionStorage), document.cookie].join("\n")
    })
  )

/**
 * A guest token as an older app would have kept it: signed by the server's own keyring (the test
 * opens the server's state directory, as the CLI does) for a guest that has no cookie yet.
 */
const legacyGuestToken = (stateDir: string) =>
  Effect.gen(function*() {
    const keyring = yield* SigningKeyring.SigningKeyring
    const gid = Ids.newGuestId()
    const now = Date.now()
    const token = yield* SignedToken.sign(keyring, { kind: "guest", gid, iat: now, exp: now + 3_600_000 })
    return { gid: gid as string, token: Redacted.value(token) }
  }).pipe(Effect.provide(Stores.layer({ stateDir }).pipe(Layer.provide(NodeServices.layer))))

const guestCookies = (page: Page) =>
  Effect.promise(() => page.context().cookies()).pipe(
    Effect.map((cookies) => cookies.filter((cookie) => cookie.name.startsWith("gatehouse_guest")))
  )

describe.skipIf(skipped)("@gatehouse-auth/client in Chromium", () => {
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

  it.live("continue as guest: the line shows the guest id, its token is nowhere the script can read, pairing promotes it and the line goes", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
      const pairing = yield* pairingUrl(served)
      const browser = yield* launch
      const { page, problems, guests } = yield* device(browser)

      yield* Effect.promise(() => page.goto(`${pairing.origin}/pair`))
      yield* visible(page, "#guest-line")
      yield* Effect.promise(() => page.click("#guest-button"))
      yield* Effect.promise(() => page.waitForSelector("#guest-id:has-text('guest_')"))
      assert.strictEqual(guests.length, 1)
      const guest = guests[0]!
      assert.include(yield* Effect.promise(() => page.textContent("#guest-id").then(String)), guest.guestId)

      // The token: in the client's memory only. The guest's identity is an HttpOnly cookie.
      const readable = yield* readableByScript(page)
      assert.notInclude(readable, guest.token)
      assert.notInclude(readable, "gatehouse_guest")
      const cookies = yield* guestCookies(page)
      assert.strictEqual(cookies.length, 1)
      assert.isTrue(cookies[0]!.httpOnly)

      // Pairing promotes the guest (the server clears its cookie) and the line is gone.
      yield* Effect.promise(() => page.fill("#code", pairing.token))
      yield* Effect.promise(() => page.click("#pair-button"))
      yield* visible(page, "#paired-view")
      assert.isTrue(yield* Effect.promise(() => page.isHidden("#guest-line")))
      assert.strictEqual(yield* Effect.promise(() => page.textContent("#guest-id").then(String)), "")
      assert.deepStrictEqual(yield* guestCookies(page), [])
      assert.deepStrictEqual(problems, [])
    }))

  it.live("a legacy guest token planted in localStorage is migrated once, then gone", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const served = yield* serve(["--port", "0", "--state-dir", stateDir])
      const pairing = yield* pairingUrl(served)
      const legacy = yield* legacyGuestToken(stateDir)
      const browser = yield* launch
      const { page, problems, requests } = yield* device(browser)

      yield* Effect.promise(() => page.goto(`${pairing.origin}/pair`))
      yield* visible(page, "#guest-line")
      yield* Effect.promise(() =>
        page.evaluate((token) => localStorage.setItem("gatehouse.guestToken", token), legacy.token)
      )
      yield* Effect.promise(() => page.reload())
      // At load the page looks up its guest (never minting one): the legacy token re-binds it.
      yield* Effect.promise(() => page.waitForSelector(`#guest-id:has-text('${legacy.gid}')`))
      assert.isNull(yield* Effect.promise(() => page.evaluate(() => localStorage.getItem("gatehouse.guestToken"))))
      const sentLegacy = () =>
        requests.filter((request) => request.body !== null && request.body.includes(legacy.token)).length
      assert.strictEqual(sentLegacy(), 1)

      // Once: the next load finds the same guest by its cookie, and sends no legacy token.
      yield* Effect.promise(() => page.reload())
      yield* Effect.promise(() => page.waitForSelector(`#guest-id:has-text('${legacy.gid}')`))
      assert.strictEqual(sentLegacy(), 1)
      assert.notInclude(yield* readableByScript(page), legacy.token)
      assert.deepStrictEqual(problems, [])
    }))
})
