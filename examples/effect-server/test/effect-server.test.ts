/**
 * The example as a user meets it: `App` on a free port over SQLite in a temp state directory; the
 * printed pairing URL pairs a client (the `/pair` page's cookie flow, `POST /api/auth/bootstrap`),
 * which then reads and writes notes; without a session the notes API answers 401.
 */
import { assert, describe, it } from "@effect/vitest"
import { GatehouseServer } from "@gatehouse-auth/server"
import { cookiePair, freePort, jsonHeaders, request, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import * as Fs from "node:fs"
import { App } from "../src/App.ts"

describe("examples/effect-server", () => {
  it.live("serves its own /, pairs with the startup URL, then reads and writes notes", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const stateDir = yield* tempDirectory
      const context = yield* Layer.build(App({ port, stateDir }))
      const { info, serverAuth } = GatehouseServer.services(context)
      const host = { host: `127.0.0.1:${port}` }

      const home = yield* request(port, { path: "/", headers: host })
      assert.strictEqual(home.status, 200)
      assert.include(home.text, "Notes")
      const anonymous = yield* request(port, { path: "/api/notes", headers: host })
      assert.strictEqual(anonymous.status, 401)

      // The URL's fragment carries the code, as the /pair page reads it.
      const url = new URL(Redacted.value((yield* serverAuth.issueStartupPairingUrl(info.baseUrl)).url))
      const credential = new URLSearchParams(url.hash.slice(1)).get("token")!
      const paired = yield* request(port, {
        method: "POST",
        path: "/api/auth/bootstrap",
        headers: { ...host, ...jsonHeaders, origin: info.baseUrl },
        body: JSON.stringify({ credential })
      })
      assert.strictEqual(paired.status, 200, paired.text)
      const cookie = cookiePair(paired.setCookies[0]!)

      const written = yield* request(port, {
        method: "POST",
        path: "/api/notes",
        headers: { ...host, ...jsonHeaders, origin: info.baseUrl, cookie },
        body: JSON.stringify({ text: "milk" })
      })
      assert.strictEqual(written.status, 201, written.text)
      const read = yield* request(port, { path: "/api/notes", headers: { ...host, cookie } })
      assert.deepStrictEqual(read.json, { notes: [{ by: "owner", text: "milk" }] })
    }).pipe(Effect.scoped))
})

describe("the root README", () => {
  it("shows src/App.ts as written, from its imports on", () => {
    const readme = Fs.readFileSync(new URL("../../../README.md", import.meta.url), "utf8")
    const app = Fs.readFileSync(new URL("../src/App.ts", import.meta.url), "utf8")
    const section = readme.slice(readme.indexOf("## Use it in your own Effect server"))
    const start = section.indexOf("```ts\n") + "```ts\n".length
    const shown = section.slice(start, section.indexOf("\n```", start))
    assert.strictEqual(shown, app.slice(app.indexOf("import { HttpAuth")).trimEnd())
  })
})
