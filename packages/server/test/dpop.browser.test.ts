/**
 * `@gatehouse-auth/client/dpop` in real Chromium against `gatehouse serve` (a child process): the
 * page pairs by the bearer flow with a non-extractable key that it keeps in IndexedDB, calls
 * `/api/hello` with proofs, rides through a nonce rotation (the server's nonce step is short here)
 * and keeps its key and bound session over a reload; the token copied out of the page and sent
 * from Node without the key is refused.
 *
 * The page is a blank document of the server's origin (answered by the browser's request routing,
 * so the client's `fetch` is same-origin) that imports the client, bundled from its source with
 * rolldown as an app's bundler would.
 *
 * Without /usr/bin/chromium these tests are skipped locally (with a note) and FAIL under CI=true.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Path from "node:path"
import type { Page } from "playwright-core"
import { build } from "rolldown"
import { launch, noteIfSkipped, skipped, timeout } from "./chromium.ts"
import { pairingUrl, request, serve } from "./helpers.ts"

noteIfSkipped("the DPoP client browser tests")

const clientSource = Path.join(import.meta.dirname, "..", "..", "client", "src", "dpop.ts")

/** The client's dpop entry as one ES module. */
const bundle = Effect.promise(async () => {
  const result = await build({ input: clientSource, write: false, logLevel: "silent", output: { format: "esm" } })
  return result.output.map((chunk) => chunk.type === "chunk" ? chunk.code : "").join("")
})

/** Seconds per nonce step on the server: a nonce lives one to two steps. */
const nonceStepSeconds = 2

/** Runs `body` (the text of an async function body, with `dpop` the client module) in the page. */
const inPage = <A>(page: Page, body: string, arg: unknown = null): Effect.Effect<A> =>
  Effect.promise(() =>
    // A string: vitest would rewrite an `import()` written in this file.
    page.evaluate<A>(
      `(async (arg) => { const dpop = await import("/dpop-client.js"); ${body} })(${JSON.stringify(arg)})`
    )
  )

describe.skipIf(skipped)("@gatehouse-auth/client/dpop in Chromium", () => {
  it.live(
    "pairs with a non-extractable IndexedDB key, calls /api/hello through a nonce rotation; the copied token alone gets 401",
    () =>
      Effect.gen(function*() {
        const served = yield* serve(["--port", "0", "--state-dir", yield* tempDirectory], {
          env: { GATEHOUSE_DPOP_NONCE_STEP: `${nonceStepSeconds} seconds` }
        })
        const pairing = yield* pairingUrl(served)
        const code = yield* bundle
        const browser = yield* launch
        const context = yield* Effect.acquireRelease(
          Effect.promise(() => browser.newContext()),
          (context) => Effect.promise(() => context.close())
        )
        const page = yield* Effect.promise(() => context.newPage())
        page.setDefaultTimeout(timeout)
        const problems: Array<string> = []
        page.on("pageerror", (error) => problems.push(error.message))
        /** What the server answered the page, in order. */
        const answers: Array<string> = []
        page.on("response", (response) => {
          const url = new URL(response.url())
          if (url.pathname.startsWith("/api/")) answers.push(`${url.pathname} ${response.status()}`)
        })
        yield* Effect.promise(() =>
          context.route(`${pairing.origin}/dpop-page`, (route) =>
            route.fulfill({ contentType: "text/html", body: "<!doctype html><title>dpop</title>" }))
        )
        yield* Effect.promise(() =>
          context.route(`${pairing.origin}/dpop-client.js`, (route) =>
            route.fulfill({ contentType: "text/javascript", body: code }))
        )
        yield* Effect.promise(() =>
          page.goto(`${pairing.origin}/dpop-page`)
        )

        // Three clients making their key at once (as three tabs would): one key is stored, all use it.
        const raced = yield* inPage<Array<string>>(
          page,
          `return Promise.all([1, 2, 3].map(() => dpop.createDpopClient().thumbprint()))`
        )
        assert.lengthOf(new Set(raced), 1)

        // Pair: with the stored key, and the session is bound to it.
        const paired = yield* inPage<{ token: string; tokenType: string; jkt: string; sessionJkt: string }>(
          page,
          `const client = dpop.createDpopClient()
         const paired = await client.pair(arg)
         globalThis.client = client
         return { token: paired.accessToken, tokenType: paired.tokenType, jkt: await client.thumbprint(), sessionJkt: paired.session.jkt }`,
          pairing.token
        )
        assert.strictEqual(paired.tokenType, "DPoP")
        assert.strictEqual(paired.sessionJkt, paired.jkt)
        assert.strictEqual(paired.jkt, raced[0])
        assert.deepStrictEqual(answers, ["/api/auth/bootstrap/bearer 400", "/api/auth/bootstrap/bearer 200"])

        // The key in IndexedDB: a CryptoKeyPair whose private key cannot be exported.
        const stored = yield* inPage<{ extractable: boolean; usages: Array<string>; exported: string }>(
          page,
          `const db = await new Promise((resolve, reject) => {
           const open = indexedDB.open("gatehouse-dpop", 1)
           open.onsuccess = () => resolve(open.result)
           open.onerror = () => reject(open.error)
         })
         const pair = await new Promise((resolve, reject) => {
           const get = db.transaction("keys", "readonly").objectStore("keys").get("pair")
           get.onsuccess = () => resolve(get.result)
           get.onerror = () => reject(get.error)
         })
         db.close()
         const exported = await crypto.subtle.exportKey("pkcs8", pair.privateKey).then(() => "exported", (e) => e.name)
         return { extractable: pair.privateKey.extractable, usages: pair.privateKey.usages, exported }`
        )
        assert.deepStrictEqual(stored, { extractable: false, usages: ["sign"], exported: "InvalidAccessError" })

        const hello = (times: number) =>
          inPage<Array<number>>(
            page,
            `const statuses = []
           for (let i = 0; i < arg.times; i++) {
             const response = await globalThis.client.fetch("/api/hello", {}, { token: arg.token })
             statuses.push(response.status)
           }
           return statuses`,
            { times, token: paired.token }
          )
        assert.deepStrictEqual(yield* hello(3), [200, 200, 200])
        assert.deepStrictEqual(answers.slice(2), ["/api/hello 200", "/api/hello 200", "/api/hello 200"])

        // Past two nonce steps the nonce the page holds is stale: one 401 challenge, then the retry.
        yield* Effect.sleep(`${2 * nonceStepSeconds * 1000 + 500} millis`)
        assert.deepStrictEqual(yield* hello(2), [200, 200])
        assert.deepStrictEqual(answers.slice(5), ["/api/hello 401", "/api/hello 200", "/api/hello 200"])

        // A reload: the client comes back with the same key from IndexedDB; the bound token still works.
        yield* Effect.promise(() =>
          page.reload()
        )
        const again = yield* inPage<{ jkt: string; status: number }>(
          page,
          `globalThis.client = dpop.createDpopClient()
         const response = await globalThis.client.fetch("/api/hello", {}, { token: arg })
         return { jkt: await globalThis.client.thumbprint(), status: response.status }`,
          paired.token
        )
        assert.strictEqual(again.jkt, paired.jkt)
        assert.strictEqual(again.status, 200)

        // The token copied out of the page, replayed from Node without the key.
        const asDpop = yield* request(`${pairing.origin}/api/hello`, {
          headers: { authorization: `DPoP ${paired.token}` }
        })
        assert.strictEqual(asDpop.status, 401)
        const asBearer = yield* request(`${pairing.origin}/api/hello`, {
          headers: { authorization: `Bearer ${paired.token}` }
        })
        assert.strictEqual(asBearer.status, 401)
        assert.deepStrictEqual(problems, [])
      }),
    90_000
  )
})
