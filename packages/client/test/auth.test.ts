/**
 * `createAuthClient` against a scripted `fetch` and a fake clock. Each test is written so that the
 * obvious simpler implementation fails it (named in the test's comment).
 */
import { afterEach, assert, describe, it, vi } from "vitest"
import { createAuthClient, GatehouseClientError } from "../src/index.ts"
import { advance, base, descriptor, fakeTime, flush, scripted, sessionView } from "./scripted.ts"

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const unauthenticated = { authenticated: false, auth: descriptor }
const authenticated = { authenticated: true, session: sessionView, auth: descriptor }

describe("resolveGateState", () => {
  it("shares one request among concurrent callers and keeps the answer", async () => {
    // Naive: one fetch per call.
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const first = auth.resolveGateState()
    const second = auth.resolveGateState()
    assert.strictEqual(server.calls.length, 1)
    assert.strictEqual(server.call(0).url, `${base}/api/auth/session`)
    assert.strictEqual(server.call(0).init.method, "GET")
    await server.call(0).respond(200, authenticated)
    assert.deepStrictEqual(await first, { status: "authenticated", session: sessionView, auth: descriptor })
    assert.strictEqual(await second, await first)
    assert.strictEqual(await auth.resolveGateState(), await first)
    assert.strictEqual(server.calls.length, 1)
  })

  it("never keeps a failed answer: a network error and a 503 are asked again", async () => {
    // Naive: the cached promise is the failed one, for ever.
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const first = auth.resolveGateState()
    await server.call(0).fail()
    const state = await first
    assert.strictEqual(state.status, "unreachable")
    assert.strictEqual(state.status === "unreachable" && state.error.code, "network_error")

    const second = auth.resolveGateState()
    assert.strictEqual(server.calls.length, 2)
    await server.call(1).respond(503, { error: { code: "service_unavailable", message: "busy" } }, {
      "retry-after": "5"
    })
    const unavailable = await second
    assert.strictEqual(unavailable.status, "unreachable")
    if (unavailable.status === "unreachable") {
      assert.strictEqual(unavailable.error.status, 503)
      assert.strictEqual(unavailable.error.message, "busy")
      assert.strictEqual(unavailable.error.retryAfterSeconds, 5)
    }

    const third = auth.resolveGateState()
    assert.strictEqual(server.calls.length, 3)
    await server.call(2).respond(200, unauthenticated)
    assert.deepStrictEqual(await third, { status: "requires-pairing", auth: descriptor })
  })

  it("is dropped by a successful pairing", async () => {
    // Naive: the cache is never invalidated, so the page still says "requires pairing".
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const before = auth.resolveGateState()
    await server.call(0).respond(200, unauthenticated)
    assert.strictEqual((await before).status, "requires-pairing")

    const paired = auth.submitPairingCredential("P80K-BRGG-YVZW-M053")
    await server.call(1).respond(200, { authenticated: true, session: sessionView })
    assert.deepStrictEqual(await paired, { ok: true, session: sessionView })

    const after = auth.resolveGateState()
    assert.strictEqual(server.calls.length, 3)
    await server.call(2).respond(200, authenticated)
    assert.strictEqual((await after).status, "authenticated")
  })

  it("is dropped by a logout", async () => {
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const before = auth.resolveGateState()
    await server.call(0).respond(200, authenticated)
    assert.strictEqual((await before).status, "authenticated")

    const out = auth.logout()
    assert.strictEqual(server.call(1).url, `${base}/api/auth/logout`)
    await server.call(1).respond(204)
    await out

    const after = auth.resolveGateState()
    assert.strictEqual(server.calls.length, 3)
    await server.call(2).respond(200, unauthenticated)
    assert.strictEqual((await after).status, "requires-pairing")
  })

  it("passes on the ambiguous-cookie problem", async () => {
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const state = auth.resolveGateState()
    await server.call(0).respond(200, { ...unauthenticated, problem: "ambiguous_cookie" })
    assert.deepStrictEqual(await state, { status: "requires-pairing", auth: descriptor, problem: "ambiguous_cookie" })
  })
})

describe("the base URL", () => {
  it("reads ws: and wss: as http: and https:, and keeps a path on the base", async () => {
    // Naive: `fetch("ws://...")`, which fetch refuses, or `new URL(path, base)`, which drops `/app`.
    const cases = [
      ["ws://h:1/app", "http://h:1/app/api/auth/session"],
      ["wss://h:1/app/", "https://h:1/app/api/auth/session"],
      ["http://h:1/app", "http://h:1/app/api/auth/session"],
      ["https://h", "https://h/api/auth/session"]
    ] as const
    for (const [baseUrl, expected] of cases) {
      const server = scripted()
      void createAuthClient({ baseUrl, fetch: server.fetch }).resolveGateState()
      assert.strictEqual(server.call(0).url, expected, baseUrl)
    }
  })

  it("defaults to location.origin", async () => {
    vi.stubGlobal("location", { origin: "http://127.0.0.1:4000", href: "http://127.0.0.1:4000/pair" })
    const server = scripted()
    void createAuthClient({ fetch: server.fetch }).resolveGateState()
    assert.strictEqual(server.call(0).url, "http://127.0.0.1:4000/api/auth/session")
  })
})

describe("submitPairingCredential", () => {
  it("retries a 503 and a network error with backoff, then pairs", async () => {
    // Naive: the first 503 (a server still starting) is the answer.
    fakeTime()
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const result = auth.submitPairingCredential("code")
    await server.call(0).respond(503, { error: { code: "service_unavailable", message: "busy" } }, {
      "retry-after": "1"
    })
    assert.strictEqual(server.calls.length, 1)
    await advance(999)
    assert.strictEqual(server.calls.length, 1, "waits for Retry-After")
    await advance(1)
    assert.strictEqual(server.calls.length, 2)
    await server.call(1).fail()
    await advance(500)
    assert.strictEqual(server.calls.length, 3)
    await server.call(2).respond(200, { authenticated: true, session: sessionView })
    assert.deepStrictEqual(await result, { ok: true, session: sessionView })
    for (const call of server.calls) {
      assert.deepStrictEqual(call.body, { credential: "code" })
      assert.strictEqual(call.init.headers["content-type"], "application/json")
    }
  })

  it("gives up after 15 seconds of 502/504s", async () => {
    fakeTime()
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    let outcome: unknown
    void auth.submitPairingCredential("code").then((value) => (outcome = value))
    for (let elapsed = 0; elapsed < 20_000 && outcome === undefined;) {
      const made = server.calls.length
      await server.call(made - 1).respond(made % 2 === 0 ? 504 : 502, "<html>Bad gateway</html>")
      while (server.calls.length === made && outcome === undefined && elapsed < 20_000) {
        await advance(50)
        elapsed += 50
      }
    }
    assert.deepInclude(outcome as object, { ok: false, code: "invalid_response", status: 502 })
    // 250 ms doubling to 4 s: 0, .25, .75, 1.75, 3.75, 7.75, 11.75 s, then the next would pass 15 s.
    assert.strictEqual(server.calls.length, 7)
  })

  it("answers a 401 at once, with the server's message (never the JSON)", async () => {
    // Naive: every failure is retried, or the message is the body.
    fakeTime()
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const result = auth.submitPairingCredential("used")
    await server.call(0).respond(401, {
      error: { code: "invalid_credential", message: "This pairing code is not valid" }
    })
    assert.deepStrictEqual(await result, {
      ok: false,
      code: "invalid_credential",
      message: "This pairing code is not valid",
      status: 401
    })
    await advance(20_000)
    assert.strictEqual(server.calls.length, 1)
  })

  it("answers a 429 at once, with its Retry-After", async () => {
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const result = auth.submitPairingCredential("guess")
    await server.call(0).respond(429, { error: { code: "rate_limited", message: "Too many attempts" } }, {
      "retry-after": "42"
    })
    assert.deepStrictEqual(await result, {
      ok: false,
      code: "rate_limited",
      message: "Too many attempts",
      status: 429,
      retryAfterSeconds: 42
    })
    assert.strictEqual(server.calls.length, 1)
  })
})

describe("the pairing code in the address bar", () => {
  it("reads #token= first, then ?token=", () => {
    const auth = createAuthClient({ baseUrl: base, fetch: scripted().fetch })
    assert.strictEqual(auth.readPairingTokenFromUrl(`${base}/pair?token=QUERY#token=HASH`), "HASH")
    assert.strictEqual(auth.readPairingTokenFromUrl(`${base}/pair?token=QUERY`), "QUERY")
    assert.strictEqual(auth.readPairingTokenFromUrl(`${base}/pair?token=QUERY#token=`), "QUERY")
    assert.strictEqual(auth.readPairingTokenFromUrl(`${base}/pair#other=1`), undefined)
    vi.stubGlobal("location", { origin: base, href: `${base}/pair#token=%20FROM-BAR%20` })
    assert.strictEqual(auth.readPairingTokenFromUrl(), "FROM-BAR")
  })

  it("is stripped with history.replaceState, other parameters kept", () => {
    const replaced: Array<string> = []
    vi.stubGlobal("location", { origin: base, href: `${base}/pair?token=Q&x=1#token=H&y=2` })
    vi.stubGlobal("history", { state: null, replaceState: (_: unknown, __: string, url: string) => replaced.push(url) })
    const auth = createAuthClient({ fetch: scripted().fetch })
    auth.stripPairingTokenFromUrl()
    assert.deepStrictEqual(replaced, ["/pair?x=1#y=2"])

    vi.stubGlobal("location", { origin: base, href: `${base}/pair#token=H` })
    auth.stripPairingTokenFromUrl()
    assert.deepStrictEqual(replaced, ["/pair?x=1#y=2", "/pair"])

    vi.stubGlobal("location", { origin: base, href: `${base}/pair` })
    auth.stripPairingTokenFromUrl()
    assert.strictEqual(replaced.length, 2, "nothing to strip: no history entry touched")
  })
})

/** A stand-in WebSocket that opens, or fails, when the test says. */
class FakeSocket extends EventTarget {
  static made: Array<FakeSocket> = []
  readonly url: string
  readonly protocols: string | Array<string> | undefined
  constructor(url: string, protocols?: string | Array<string>) {
    super()
    this.url = url
    this.protocols = protocols
    FakeSocket.made.push(this)
  }
}

describe("openSocket", () => {
  it("gets a ticket, opens the socket with it on the base's path, resolves once open", async () => {
    FakeSocket.made = []
    vi.stubGlobal("WebSocket", FakeSocket)
    const server = scripted()
    const auth = createAuthClient({ baseUrl: "https://h:1/app", fetch: server.fetch })
    let opened: unknown
    void auth.openSocket("/ws", ["echo"]).then((socket) => (opened = socket))
    assert.strictEqual(server.call(0).url, "https://h:1/app/api/auth/ws-ticket")
    assert.strictEqual(server.call(0).init.method, "POST")
    assert.strictEqual(server.call(0).init.credentials, "include")
    await server.call(0).respond(200, { ticket: "v1.k.c.s", expiresAt: 9 })
    const socket = FakeSocket.made[0]!
    assert.strictEqual(socket.url, "wss://h:1/app/ws?wsTicket=v1.k.c.s")
    assert.deepStrictEqual(socket.protocols, ["echo"])
    await flush()
    assert.isUndefined(opened, "not before open")
    socket.dispatchEvent(new Event("open"))
    await flush()
    assert.strictEqual(opened, socket)
  })

  it("rejects with a GatehouseClientError when the ticket is refused or the socket fails", async () => {
    FakeSocket.made = []
    vi.stubGlobal("WebSocket", FakeSocket)
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    const refused = auth.openSocket("/ws").catch((e: unknown) => e)
    await server.call(0).respond(401, { error: { code: "missing_credential", message: "Authentication is required" } })
    const error = await refused
    assert.instanceOf(error, GatehouseClientError)
    assert.deepInclude(error, { code: "missing_credential", status: 401, message: "Authentication is required" })
    assert.strictEqual(FakeSocket.made.length, 0)

    const failing = auth.openSocket("/ws").catch((e: unknown) => e)
    await server.call(1).respond(200, { ticket: "t", expiresAt: 9 })
    FakeSocket.made[0]!.dispatchEvent(new Event("error"))
    assert.deepInclude(await failing, { code: "socket_error" })
  })
})

describe("requests", () => {
  it("send cookies (credentials include), JSON bodies on POST, and no token in any URL", async () => {
    const server = scripted()
    const auth = createAuthClient({ baseUrl: base, fetch: server.fetch })
    void auth.resolveGateState()
    void auth.submitPairingCredential("SECRET-CODE")
    void auth.logout()
    for (const call of server.calls) {
      assert.strictEqual(call.init.credentials, "include")
      assert.strictEqual(call.init.cache, "no-store")
      assert.notInclude(call.url, "SECRET")
      if (call.init.method === "POST") {
        assert.strictEqual(call.init.headers["content-type"], "application/json")
        assert.isString(call.init.body)
      }
    }
    assert.strictEqual(server.calls.length, 3)
  })
})
