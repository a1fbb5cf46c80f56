/**
 * The README's "Use" snippet, run as written: the code between the markers below is the README's
 * character for character (the first test checks that), against a scripted server. The browser
 * globals it uses (the address bar, history, fetch, WebSocket) are set up first.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterAll, assert, describe, it, vi } from "vitest"
import { base, descriptor, scripted, sessionView } from "./scripted.ts"

const server = scripted()
const replaced: Array<string> = []
const sent: Array<string> = []
vi.stubGlobal("location", { origin: base, href: `${base}/pair#token=P80KBRGGYVZWM053` })
vi.stubGlobal("history", { state: null, replaceState: (_: unknown, __: string, url: string) => replaced.push(url) })
vi.stubGlobal("fetch", server.fetch)
vi.stubGlobal(
  "WebSocket",
  class extends EventTarget {
    readonly url: string
    constructor(url: string) {
      super()
      this.url = url
      sent.push(`open ${url}`)
      queueMicrotask(() => this.dispatchEvent(new Event("open")))
    }
    send(data: string) {
      sent.push(`send ${data}`)
    }
  }
)
afterAll(() => vi.unstubAllGlobals())

// README:begin
import { createAuthClient, createGuestClient } from "@gatehouse-auth/client"

const auth = createAuthClient() // baseUrl defaults to location.origin
const guest = createGuestClient()

export const start = async (): Promise<string> => {
  // A pairing link carries the code in its fragment: take it out of the address bar, then pair.
  const code = auth.readPairingTokenFromUrl()
  if (code !== undefined) {
    auth.stripPairingTokenFromUrl()
    const paired = await auth.submitPairingCredential(code)
    if (!paired.ok) return `Pairing failed: ${paired.message}`
    guest.clear() // the server promoted the guest with the pairing
  }
  const state = await auth.resolveGateState()
  switch (state.status) {
    case "authenticated": {
      const socket = await auth.openSocket("/ws")
      socket.addEventListener("message", (event) => console.log("live:", event.data))
      socket.send("ping")
      return `Signed in as ${state.session.subject}`
    }
    case "requires-pairing": {
      const visitor = await guest.getToken()
      return `Not paired; continuing as guest ${visitor.guestId}`
    }
    case "unreachable":
      return `The server cannot be reached: ${state.error.message}`
  }
}
// README:end

describe("the README's usage", () => {
  it("is the README's snippet, character for character", () => {
    const readme = Fs.readFileSync(Path.join(import.meta.dirname, "..", "README.md"), "utf8")
    const self = Fs.readFileSync(import.meta.filename, "utf8")
    const snippet = self.slice(self.indexOf("// README:begin\n") + 16, self.indexOf("// README:end"))
    assert.include(readme, "```ts\n" + snippet + "```")
  })

  it("pairs with the code in the address bar, strips it, and opens the socket", async () => {
    const result = start()
    await server.call(0).respond(200, { authenticated: true, session: sessionView })
    assert.strictEqual(server.call(0).url, `${base}/api/auth/bootstrap`)
    assert.deepStrictEqual(server.call(0).body, { credential: "P80KBRGGYVZWM053" })
    assert.deepStrictEqual(replaced, ["/pair"])
    await server.call(1).respond(200, { authenticated: true, session: sessionView, auth: descriptor })
    await server.call(2).respond(200, { ticket: "v1.t", expiresAt: 1 })
    assert.strictEqual(await result, "Signed in as owner")
    assert.deepStrictEqual(sent, ["open ws://127.0.0.1:3773/ws?wsTicket=v1.t", "send ping"])
  })

  it("continues as a guest when not paired", async () => {
    // The snippet's own client logs out (which drops its cached gate state); the page reloads.
    const out = auth.logout()
    await server.call(3).respond(204)
    await out
    vi.stubGlobal("location", { origin: base, href: `${base}/pair` })
    const result = start()
    await server.call(4).respond(200, { authenticated: false, auth: descriptor })
    assert.deepStrictEqual(server.call(5).body, { mode: "lookup_or_create" })
    await server.call(5).respond(200, { guestId: "guest_1", token: "t", expiresAt: Date.now() + 86_400_000 })
    assert.strictEqual(await result, "Not paired; continuing as guest guest_1")
  })
})
