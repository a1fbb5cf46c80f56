/**
 * A phone on the network, played by a Chromium whose resolver maps `phone.test` to 127.0.0.1
 * (`--host-resolver-rules`): it reaches `gatehouse serve` by a name that is not loopback, as a
 * phone reaches a laptop's address, while every packet stays on this machine. The server runs with
 * the `remote-reachable` policy (what a bind beyond loopback gets), so its cookies are Secure.
 *
 * Skipped locally without /usr/bin/chromium; under CI=true they run (see chromium.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Browser, Page } from "playwright-core"
import { launchWith, noteIfSkipped, skipped, timeout } from "./chromium.ts"
import { bearerBootstrap, serve, waitFor } from "./helpers.ts"

noteIfSkipped("the phone browser tests")

const phoneBrowser = launchWith(["--host-resolver-rules=MAP phone.test 127.0.0.1"])

const phone = (browser: Browser, options: { readonly ignoreHTTPSErrors?: boolean } = {}) =>
  Effect.gen(function*() {
    const context = yield* Effect.acquireRelease(
      Effect.promise(() =>
        browser.newContext({
          ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
          userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) " +
            "Chrome/130.0 Mobile Safari/537.36"
        })
      ),
      (context) => Effect.promise(() => context.close())
    )
    const page: Page = yield* Effect.promise(() => context.newPage())
    page.setDefaultTimeout(timeout)
    return { context, page }
  })

const visible = (page: Page, selector: string) =>
  Effect.promise(() => page.waitForSelector(`${selector}:not([hidden])`))

const text = (page: Page, selector: string) =>
  Effect.promise(() => page.textContent(selector).then((value) => value ?? ""))

/** The `Pairing URL:` line's scheme, port and code. */
const printed = (stdout: string) => {
  const match = /^Pairing URL: (https?):\/\/127\.0\.0\.1:(\d+)\/pair#token=([0-9A-Z]{16})$/m.exec(stdout)
  assert.isNotNull(match, stdout)
  return { scheme: match![1]!, port: Number(match![2]), token: match![3]! }
}

describe.skipIf(skipped)("a phone on the network, in Chromium", () => {
  it.live("over plain HTTP the page says why it cannot pair and how to fix it; the code is not used up", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const served = yield* serve([
        "--port",
        String(port),
        "--state-dir",
        yield* tempDirectory,
        "--policy",
        "remote-reachable"
      ])
      yield* waitFor(served, /It works once/)
      const pairing = printed(served.stdout())
      const browser = yield* phoneBrowser
      const { context, page } = yield* phone(browser)

      yield* Effect.promise(() => page.goto(`http://phone.test:${port}/pair#token=${pairing.token}`))
      yield* visible(page, "#error")
      const message = yield* text(page, "#error")
      assert.match(message, /drop the session cookie/)
      assert.match(message, /not used/)
      assert.match(message, /--tls-self-signed/)
      yield* visible(page, "#pair-view")
      // The code stays at hand in the form (it left the address bar, as always).
      assert.strictEqual(yield* Effect.promise(() => page.inputValue("#code")), pairing.token)
      assert.notInclude(page.url(), pairing.token)
      assert.deepStrictEqual(yield* Effect.promise(() => context.cookies()), [])

      // The same code still pairs, through the bearer flow (over loopback).
      const exchanged = yield* bearerBootstrap(`http://127.0.0.1:${port}`, pairing.token)
      assert.strictEqual(exchanged.status, 200, exchanged.text)
      assert.strictEqual(exchanged.json.session.transport, "bearer")
    }))

  it.live("a cookie the browser drops after the server said yes: the page checks and says so plainly", () =>
    Effect.gen(function*() {
      // A misconfigured proxy setup: the server is told (by a "proxy" it trusts) that the request
      // came over HTTPS, so it pairs; the browser, on plain HTTP, drops the Secure cookie.
      const port = yield* freePort
      const served = yield* serve([
        "--port",
        String(port),
        "--state-dir",
        yield* tempDirectory,
        "--policy",
        "remote-reachable",
        "--trusted-proxy",
        "127.0.0.1",
        "--allowed-origin",
        `http://phone.test:${port}`
      ])
      yield* waitFor(served, /It works once/)
      const pairing = printed(served.stdout())
      const browser = yield* phoneBrowser
      const { page } = yield* phone(browser)
      yield* Effect.promise(() =>
        page.setExtraHTTPHeaders({ "x-forwarded-for": "192.168.1.50", "x-forwarded-proto": "https" })
      )
      yield* Effect.promise(() => page.goto(`http://phone.test:${port}/pair#token=${pairing.token}`))
      yield* visible(page, "#error")
      assert.match(yield* text(page, "#error"), /did not keep the session cookie/)
      yield* visible(page, "#pair-view")
    }))

  it.live("over HTTPS with the self-signed certificate it pairs: a __Host- Secure cookie, the fingerprint on the page", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = Path.join(yield* tempDirectory, "state")
      const served = yield* serve([
        "--port",
        String(port),
        "--state-dir",
        stateDir,
        "--policy",
        "remote-reachable",
        "--tls-self-signed"
      ])
      yield* waitFor(served, /It works once/)
      const pairing = printed(served.stdout())
      assert.strictEqual(pairing.scheme, "https")
      const fingerprint = /^TLS certificate SHA-256 fingerprint: (\S+)$/m.exec(served.stdout())![1]!
      assert.strictEqual(
        fingerprint,
        new Crypto.X509Certificate(Fs.readFileSync(Path.join(stateDir, "tls-self-signed.crt"))).fingerprint256
      )
      const browser = yield* phoneBrowser
      const { context, page } = yield* phone(browser, { ignoreHTTPSErrors: true })

      yield* Effect.promise(() => page.goto(`https://phone.test:${port}/pair#token=${pairing.token}`))
      yield* visible(page, "#paired-view")
      assert.strictEqual(yield* text(page, "#subject"), "owner")
      assert.strictEqual(yield* text(page, "#tls-fingerprint-value"), fingerprint)
      yield* visible(page, "#tls-fingerprint")
      const cookies = yield* Effect.promise(() => context.cookies())
      assert.strictEqual(cookies.length, 1)
      assert.strictEqual(cookies[0]!.name, "__Host-gatehouse_session")
      assert.isTrue(cookies[0]!.secure)
      assert.isTrue(cookies[0]!.httpOnly)
      assert.strictEqual(cookies[0]!.domain, "phone.test")
      // The page's own WebSocket (WSS) connected.
      yield* Effect.promise(() => page.waitForSelector("#live[data-state='open']"))
      // Its session is listed as a cookie session of an Android phone.
      yield* visible(page, "#sessions li[data-current='true']")
    }))
})
