/**
 * The /pair page in real Chromium (Debian's `chromium`, driven by playwright-core), against
 * `gatehouse serve` run as a child process.
 *
 * Without /usr/bin/chromium these tests are skipped locally (with a note) and FAIL under CI=true:
 * CI must install it (.ci/run does).
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Http from "node:http"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { available, executablePath, launch, noteIfSkipped, skipped, timeout } from "./chromium.ts"
import { gatehouse, pairingUrl, serve } from "./helpers.ts"

// Names that exist inside the page: page.evaluate callbacks run there, not in Node.
declare const window: { testSocket: { code: number } }
declare let location: { host: string; href: string }
declare const document: { querySelectorAll: (selector: string) => { length: number } }

noteIfSkipped("the /pair browser tests")

/** A fresh browser context (its own cookie jar: another device) with its console errors collected. */
const device = (browser: Browser) =>
  Effect.gen(function*() {
    const context: BrowserContext = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext()),
      (context) => Effect.promise(() => context.close())
    )
    const page: Page = yield* Effect.promise(() => context.newPage())
    page.setDefaultTimeout(timeout)
    const problems: Array<string> = []
    page.on("console", (message) => {
      // A refused request (a used code's 401) is logged by Chromium too; that is not a page problem.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        problems.push(message.text())
      }
    })
    page.on("pageerror", (error) => problems.push(error.message))
    return { context, page, problems }
  })

const visible = (page: Page, selector: string) =>
  Effect.promise(() => page.waitForSelector(`${selector}:not([hidden])`))

const text = (page: Page, selector: string) =>
  Effect.promise(() => page.textContent(selector).then((value) => value ?? ""))

const sessionRows = (page: Page) =>
  Effect.promise(() =>
    page.$$eval(
      "#sessions li[data-session-id]",
      (items) =>
        items.map((item) => ({
          id: item.getAttribute("data-session-id")!,
          current: item.getAttribute("data-current") === "true"
        }))
    )
  )

/** Opens a WebSocket to /ws from inside the page (cookie-authenticated); records its close code. */
const openPageSocket = (page: Page) =>
  Effect.promise(() =>
    page.evaluate(() =>
      new Promise<void>((resolve, reject) => {
        const record = { code: 0 }
        window.testSocket = record
        const socket = new WebSocket(`ws://${location.host}/ws`)
        socket.addEventListener("open", () => resolve())
        socket.addEventListener("error", () => reject(new Error("WebSocket error")))
        socket.addEventListener("close", (event) => (record.code = event.code))
      })
    )
  )

describe.skipIf(skipped)("/pair in Chromium", () => {
  it.live("Chromium is installed", () =>
    Effect.sync(() => assert.isTrue(available, `${executablePath} is missing: apt-get install chromium`)))

  it.live("the startup pairing URL pairs the browser, the token leaves the address bar, the page lists the session", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
      const pairing = yield* pairingUrl(served)
      const browser = yield* launch
      const first = yield* device(browser)

      yield* Effect.promise(() => first.page.goto(pairing.url))
      yield* visible(first.page, "#paired-view")
      assert.strictEqual(first.page.url(), `${pairing.origin}/pair`)
      assert.notInclude(yield* Effect.promise(() => first.page.evaluate(() => location.href)), pairing.token)
      assert.strictEqual(yield* text(first.page, "#subject"), "owner")
      assert.include(yield* text(first.page, "#scopes"), "write:access")

      yield* visible(first.page, "#sessions li[data-current='true']")
      const rows = yield* sessionRows(first.page)
      assert.strictEqual(rows.length, 1)
      assert.isTrue(rows[0]!.current)
      // The page's own WebSocket connected (the server echoed its ping).
      yield* Effect.promise(() => first.page.waitForSelector("#live[data-state='open']"))
      // No CSP violation or script error on the way.
      assert.deepStrictEqual(first.problems, [])

      // The same URL in another browser: already used, and the page says so in words.
      const second = yield* device(browser)
      yield* Effect.promise(() => second.page.goto(pairing.url))
      yield* visible(second.page, "#error")
      const message = yield* text(second.page, "#error")
      assert.match(message, /not valid/)
      assert.notInclude(message, "{")
      yield* visible(second.page, "#pair-view")
      assert.strictEqual(second.page.url(), `${pairing.origin}/pair`)

      // A fresh link pasted into that tab (only the hash changes) pairs it without a reload.
      yield* Effect.promise(() => first.page.click("#create-link"))
      yield* visible(first.page, "#link-result")
      const link = yield* Effect.promise(() => first.page.inputValue("#link-url"))
      yield* Effect.promise(() => second.page.evaluate((url) => (location.href = url), link))
      yield* visible(second.page, "#paired-view")
      assert.strictEqual(second.page.url(), `${pairing.origin}/pair`)
      assert.deepStrictEqual(second.problems, [])
    }))

  it.live("a code typed in a second browser pairs it; revoking it from the first ends its requests and closes its WebSockets with 4401", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
      const pairing = yield* pairingUrl(served)
      const browser = yield* launch
      const admin = yield* device(browser)
      yield* Effect.promise(() => admin.page.goto(pairing.url))
      yield* visible(admin.page, "#links-view")

      // A pairing link made on the first device.
      yield* Effect.promise(() => admin.page.fill("#link-label", "phone"))
      yield* Effect.promise(() => admin.page.click("#create-link"))
      yield* visible(admin.page, "#link-result")
      const code = yield* text(admin.page, "#link-code")
      assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
      const url = yield* Effect.promise(() => admin.page.inputValue("#link-url"))
      assert.strictEqual(url, `${pairing.origin}/pair#token=${code.replaceAll("-", "")}`)

      // The second device types the code (lower case, as a person might).
      const phone = yield* device(browser)
      yield* Effect.promise(() => phone.page.goto(`${pairing.origin}/pair`))
      yield* visible(phone.page, "#pair-view")
      yield* Effect.promise(() => phone.page.fill("#code", code.toLowerCase()))
      yield* Effect.promise(() => phone.page.click("#pair-button"))
      yield* visible(phone.page, "#paired-view")
      assert.strictEqual(yield* text(phone.page, "#scopes"), "read:hello, write:hello, read:runs, write:tasks")
      // A standard session: no session management on this device.
      assert.isTrue(yield* Effect.promise(() => phone.page.isHidden("#sessions-view")))
      yield* Effect.promise(() => phone.page.waitForSelector("#live[data-state='open']"))
      yield* openPageSocket(phone.page)
      const helloBefore = yield* Effect.promise(() =>
        phone.page.evaluate(() => fetch("/api/hello").then((response) => response.status))
      )
      assert.strictEqual(helloBefore, 200)

      // The first device sees it and revokes it.
      yield* Effect.promise(() => admin.page.click("#refresh"))
      yield* Effect.promise(() => admin.page.waitForSelector("#sessions li[data-current='false'] button"))
      const rows = yield* sessionRows(admin.page)
      assert.strictEqual(rows.length, 2)
      yield* Effect.promise(() => admin.page.click("#sessions li[data-current='false'] button"))
      yield* Effect.promise(() =>
        admin.page.waitForFunction(() => document.querySelectorAll("#sessions li[data-session-id]").length === 1)
      )

      // The second device: both of its sockets closed with 4401, its next request is unauthenticated.
      yield* Effect.promise(() => phone.page.waitForFunction(() => window.testSocket.code !== 0, null, { timeout }))
      const closeCode = yield* Effect.promise(() => phone.page.evaluate(() => window.testSocket.code))
      assert.strictEqual(closeCode, 4401)
      yield* Effect.promise(() => phone.page.waitForSelector("#live[data-close-code='4401']", { state: "attached" }))
      const helloAfter = yield* Effect.promise(() =>
        phone.page.evaluate(() =>
          fetch("/api/hello").then(async (response) => ({
            status: response.status,
            body: (await response.json()) as { error: { code: string } }
          }))
        )
      )
      assert.strictEqual(helloAfter.status, 401)
      assert.strictEqual(helloAfter.body.error.code, "invalid_credential")
      // The page noticed and offers pairing again.
      yield* visible(phone.page, "#pair-view")
      assert.match(yield* text(phone.page, "#error"), /revoked/)

      // The first device is unaffected.
      const adminHello = yield* Effect.promise(() =>
        admin.page.evaluate(() => fetch("/api/hello").then((response) => response.status))
      )
      assert.strictEqual(adminHello, 200)
      assert.deepStrictEqual(admin.problems, [])
    }))

  it.live("a page on another local port tosses a Path=/api session cookie: /pair says so, and pairing again recovers", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const served = yield* serve(["--port", "0", "--state-dir", stateDir])
      const pairing = yield* pairingUrl(served)
      // Any other server on this host can set cookies for it: cookies are not isolated by port.
      const evil = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<Http.Server>((resolve) => {
            const server = Http.createServer((_, response) => {
              response.writeHead(200, {
                "content-type": "text/html",
                "set-cookie": `gatehouse_session_${pairing.port}=junk; Path=/api; Max-Age=31536000`
              })
              response.end("<html><body>an innocent page</body></html>")
            })
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
        ),
        (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const evilPort = (evil.address() as { port: number }).port
      const browser = yield* launch
      const owner = yield* device(browser)

      yield* Effect.promise(() => owner.page.goto(pairing.url))
      yield* visible(owner.page, "#paired-view")
      yield* Effect.promise(() => owner.page.goto(`http://127.0.0.1:${evilPort}/`))
      yield* Effect.promise(() => owner.page.goto(`${pairing.origin}/pair`))
      // Both cookies go with every /api request now: the page says what happened in words.
      yield* visible(owner.page, "#pair-view")
      assert.match(yield* text(owner.page, "#error"), /Another page on this computer interfered/)

      // A new code (from the CLI, as the owner would) pairs this browser again, and it stays paired.
      const pair = yield* gatehouse(["pair", "--state-dir", stateDir])
      const code = /^Code: ([0-9A-Z-]+)$/m.exec(pair.stdout)?.[1]
      assert.isDefined(code, pair.stdout + pair.stderr)
      yield* Effect.promise(() => owner.page.fill("#code", code!))
      yield* Effect.promise(() => owner.page.click("#pair-button"))
      yield* visible(owner.page, "#paired-view")
      const hello = yield* Effect.promise(() =>
        owner.page.evaluate(() => fetch("/api/hello").then((response) => response.status))
      )
      assert.strictEqual(hello, 200)
      yield* Effect.promise(() => owner.page.reload())
      yield* visible(owner.page, "#paired-view")
    }))

  it.live("a ?token= query also pairs, and is stripped too", () =>
    Effect.gen(function*() {
      const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory])
      const pairing = yield* pairingUrl(served)
      const browser = yield* launch
      const { page } = yield* device(browser)
      yield* Effect.promise(() => page.goto(`${pairing.origin}/pair?token=${pairing.token}`))
      yield* visible(page, "#paired-view")
      assert.strictEqual(page.url(), `${pairing.origin}/pair`)
    }))
})
