/**
 * `@gatehouse-auth/client/dpop` in Node 22 (WebCrypto, the global fetch): its proofs verify with
 * `jose` (an implementation that is not the project's) and say what RFC 9449 asks; the key cannot
 * leave WebCrypto; the nonce retry runs against a real `node:http` server on loopback that refuses
 * as a Gatehouse server does (401 challenge at a resource, 400 JSON at a token endpoint).
 */
import fc from "fast-check"
import * as Jose from "jose"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, assert, beforeAll, describe, it, vi } from "vitest"
import {
  createDpopClient,
  createProof,
  type DpopKeyPair,
  type DpopKeyStore,
  generateKeyPair,
  isNonceChallenge,
  memoryKeyStore,
  thumbprintOf
} from "../src/dpop.ts"
import { GatehouseClientError } from "../src/index.ts"

const verify = (proof: string) => Jose.jwtVerify(proof, Jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: ["ES256"] })

const sha256 = async (text: string) =>
  Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).toString("base64url")

const canonical = /^[A-Za-z0-9_-]+$/

describe("proofs", () => {
  it("verify with jose and carry the header and claims RFC 9449 asks for", async () => {
    const pair = await generateKeyPair()
    const proof = await createProof(pair, {
      method: "POST",
      url: "https://Example.COM:443/api/hello?x=1&token=secret#frag",
      accessToken: "tok.en",
      nonce: "n-1"
    })
    const parts = proof.split(".")
    assert.lengthOf(parts, 3)
    for (const part of parts) assert.match(part!, canonical)
    // Raw r || s: 64 bytes, not DER.
    assert.lengthOf(Buffer.from(parts[2]!, "base64url"), 64)
    const { payload, protectedHeader } = await verify(proof)
    assert.deepStrictEqual(Object.keys(protectedHeader).sort(), ["alg", "jwk", "typ"])
    assert.strictEqual(protectedHeader.typ, "dpop+jwt")
    assert.strictEqual(protectedHeader.alg, "ES256")
    // Only the public members: nothing private, nothing WebCrypto adds (`ext`, `key_ops`).
    assert.deepStrictEqual(Object.keys(protectedHeader.jwk!).sort(), ["crv", "kty", "x", "y"])
    assert.strictEqual(protectedHeader.jwk!.crv, "P-256")
    assert.strictEqual(payload.htm, "POST")
    // The URL parser's own normalisation (case, default port); no query, no fragment.
    assert.strictEqual(payload.htu, "https://example.com/api/hello")
    assert.notInclude(proof, "secret")
    assert.strictEqual(payload.ath, await sha256("tok.en"))
    assert.strictEqual(payload.nonce, "n-1")
    assert.isString(payload.jti)
    assert.isAtLeast(Buffer.from(payload.jti!, "base64url").length, 16)
  })

  it("have no ath without a token and no nonce without one", async () => {
    const { payload } = await verify(
      await createProof(await generateKeyPair(), { method: "GET", url: "http://127.0.0.1:1/a" })
    )
    assert.deepStrictEqual(Object.keys(payload).sort(), ["htm", "htu", "iat", "jti"])
  })

  it("iat is the current time in seconds", async () => {
    vi.useFakeTimers({ toFake: ["Date"] })
    try {
      vi.setSystemTime(1_700_000_123_999)
      // jose reads the (faked) clock only for exp/nbf/maxTokenAge, none of which a proof has here.
      const { payload } = await verify(
        await createProof(await generateKeyPair(), { method: "GET", url: "http://127.0.0.1:1/" })
      )
      assert.strictEqual(payload.iat, 1_700_000_123)
    } finally {
      vi.useRealTimers()
    }
  })

  it("name the method as fetch sends it", async () => {
    const pair = await generateKeyPair()
    const htm = async (method: string) =>
      (await verify(await createProof(pair, { method, url: "http://127.0.0.1:1/" }))).payload.htm
    assert.strictEqual(await htm("post"), "POST")
    assert.strictEqual(await htm("delete"), "DELETE")
    // fetch leaves other methods as written: so does the proof (htm must match what is sent).
    assert.strictEqual(await htm("patch"), "patch")
    assert.strictEqual(await htm("PATCH"), "PATCH")
  })

  it("have a different jti every time", async () => {
    const pair = await generateKeyPair()
    const jtis = new Set<string>()
    const count = 2000
    for (let i = 0; i < count; i++) {
      const proof = await createProof(pair, { method: "GET", url: "http://127.0.0.1:1/" })
      const payload = JSON.parse(Buffer.from(proof.split(".")[1]!, "base64url").toString()) as { jti: string }
      jtis.add(payload.jti)
    }
    assert.strictEqual(jtis.size, count)
  })

  it("carry htu without query and fragment for any URL", async () => {
    const pair = await generateKeyPair()
    await fc.assert(
      fc.asyncProperty(fc.webUrl({ withQueryParameters: true, withFragments: true }), async (raw) => {
        const { payload } = await verify(await createProof(pair, { method: "GET", url: raw }))
        const expected = new URL(raw)
        expected.search = ""
        expected.hash = ""
        assert.strictEqual(payload.htu, expected.href)
        assert.notInclude(payload.htu as string, "?")
        assert.notInclude(payload.htu as string, "#")
      }),
      { numRuns: 200 }
    )
  })
})

describe("the key", () => {
  it("is a non-extractable P-256 signing key; its public JWK and thumbprint are jose's", async () => {
    const store = memoryKeyStore()
    const client = createDpopClient({ keyStore: store })
    const jkt = await client.thumbprint()
    const pair = (await store.load())!
    assert.isFalse(pair.privateKey.extractable)
    assert.deepStrictEqual(pair.privateKey.usages, ["sign"])
    assert.deepInclude(pair.privateKey.algorithm as object, { name: "ECDSA", namedCurve: "P-256" })
    for (const format of ["pkcs8", "jwk", "raw"] as const) {
      await crypto.subtle.exportKey(format as "pkcs8", pair.privateKey).then(
        () => assert.fail(`the private key exported as ${format}`),
        (error: Error) => assert.match(error.name, /InvalidAccess|NotSupported/)
      )
    }
    const jwk = await client.publicJwk()
    assert.strictEqual(jkt, await Jose.calculateJwkThumbprint(jwk, "sha256"))
    assert.match(jkt, canonical)
    assert.lengthOf(jkt, 43)
    const { protectedHeader } = await verify(await client.proof({ method: "GET", url: "http://127.0.0.1:1/" }))
    assert.deepStrictEqual(protectedHeader.jwk, { ...jwk })
  })

  it("is made once and saved once, however many calls race for it", async () => {
    const saved: Array<DpopKeyPair> = []
    const inner = memoryKeyStore()
    const store: DpopKeyStore = {
      load: () => inner.load(),
      save: async (pair) => {
        saved.push(pair)
        await inner.save(pair)
      }
    }
    const client = createDpopClient({ keyStore: store })
    const prints = await Promise.all(Array.from({ length: 20 }, () => client.thumbprint()))
    assert.lengthOf(saved, 1)
    assert.lengthOf(new Set(prints), 1)
    assert.strictEqual(prints[0], await thumbprintOf(saved[0]!))
    // A second client over the same store (the next page load) uses the stored key.
    assert.strictEqual(await createDpopClient({ keyStore: store }).thumbprint(), prints[0])
    assert.lengthOf(saved, 1)
  })

  it("comes from the caller's store, and uses what the store kept when another save won", async () => {
    const theirs = await generateKeyPair()
    let loads = 0
    // The first load finds nothing; meanwhile "another tab" saved `theirs`, which the store keeps.
    const store: DpopKeyStore = {
      load: async () => (loads++ === 0 ? undefined : theirs),
      save: async () => {}
    }
    const client = createDpopClient({ keyStore: store })
    assert.strictEqual(await client.thumbprint(), await thumbprintOf(theirs))
    const { protectedHeader } = await verify(await client.proof({ method: "GET", url: "http://127.0.0.1:1/" }))
    assert.strictEqual(await Jose.calculateJwkThumbprint(protectedHeader.jwk!), await thumbprintOf(theirs))
  })

  it("a store that failed is asked again at the next call", async () => {
    let fail = true
    const inner = memoryKeyStore()
    const store: DpopKeyStore = {
      load: async () => {
        if (fail) throw new Error("storage is blocked")
        return inner.load()
      },
      save: (pair) => inner.save(pair)
    }
    const client = createDpopClient({ keyStore: store })
    await client.thumbprint().then(
      () => assert.fail("resolved"),
      (error: Error) => assert.match(error.message, /blocked/)
    )
    fail = false
    assert.match(await client.thumbprint(), canonical)
  })
})

describe("isNonceChallenge", () => {
  it("finds the DPoP challenge's error among several challenges", () => {
    assert.isTrue(isNonceChallenge(`DPoP error="use_dpop_nonce", algs="ES256 Ed25519 EdDSA"`))
    assert.isTrue(
      isNonceChallenge(
        `Bearer realm="gatehouse", DPoP algs="ES256 Ed25519 EdDSA", error="use_dpop_nonce", error_description="x"`
      )
    )
    assert.isTrue(isNonceChallenge(`dpop ERROR = use_dpop_nonce`))
    assert.isTrue(isNonceChallenge(`Bearer error="invalid_token", DPoP error="use_dpop_nonce"`))
    assert.isFalse(isNonceChallenge(null))
    assert.isFalse(isNonceChallenge(""))
    assert.isFalse(isNonceChallenge(`DPoP error="invalid_dpop_proof", algs="ES256"`))
    // The Bearer challenge's error is not the DPoP one's.
    assert.isFalse(isNonceChallenge(`Bearer error="use_dpop_nonce", DPoP algs="ES256"`))
    // Inside a quoted value is text, not a challenge.
    assert.isFalse(isNonceChallenge(`Bearer error_description="try DPoP error=\\"use_dpop_nonce\\""`))
    assert.isFalse(isNonceChallenge(`DPoP error="use_dpop_nonce_later"`))
  })

  it("never throws on hostile input and answers only for a DPoP challenge's error", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (header) => {
        const found = isNonceChallenge(header)
        if (found) assert.match(header, /dpop/i)
      }),
      { numRuns: 2000 }
    )
    // Pathological quoting stays linear enough to answer at once.
    const started = Date.now()
    isNonceChallenge(`DPoP x="${"\\\"".repeat(50_000)}`)
    isNonceChallenge("a=".repeat(50_000))
    assert.isBelow(Date.now() - started, 1000)
  })
})

// ---------------------------------------------------------------------------------------------
// The retry, against a real server on loopback
// ---------------------------------------------------------------------------------------------

interface Seen {
  readonly method: string
  readonly path: string
  readonly dpop: string | undefined
  readonly authorization: string | undefined
  readonly body: string
  readonly claims: Jose.JWTPayload
}

type Answer = (seen: Seen, count: number) => {
  status: number
  headers?: Record<string, string>
  body?: string
}

let server: Http.Server
let origin: string
const routes = new Map<string, { answer: Answer; seen: Array<Seen> }>()

beforeAll(async () => {
  server = Http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", async () => {
      const path = new URL(request.url!, origin).pathname
      const route = routes.get(path)
      const dpop = request.headers.dpop as string | undefined
      let claims: Jose.JWTPayload = {}
      try {
        if (dpop !== undefined) claims = (await verify(dpop)).payload
      } catch {
        claims = { invalid: true }
      }
      if (route === undefined) {
        response.writeHead(404).end()
        return
      }
      const seen: Seen = {
        method: request.method!,
        path,
        dpop,
        authorization: request.headers.authorization,
        body: Buffer.concat(chunks).toString(),
        claims
      }
      route.seen.push(seen)
      const { status, headers = {}, body = "" } = route.answer(seen, route.seen.length)
      response.writeHead(status, headers).end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

let routeCount = 0
/** A route of its own for one test, answering with `answer`; returns its URL and what it saw. */
const route = (answer: Answer, under = "/api/hello") => {
  const base = `${origin}/r${routeCount++}`
  const entry = { answer, seen: [] as Array<Seen> }
  routes.set(new URL(base + under).pathname, entry)
  return { base, url: base + under, seen: entry.seen }
}

const challenge401 = (nonce: string) => ({
  status: 401,
  headers: {
    "www-authenticate": `Bearer realm="gatehouse", DPoP error="use_dpop_nonce", algs="ES256 Ed25519 EdDSA"`,
    "dpop-nonce": nonce,
    "content-type": "application/json"
  },
  body: JSON.stringify({ error: { code: "unauthorized", message: "A DPoP nonce is required" } })
})
const challenge400 = (nonce: string) => ({
  status: 400,
  headers: { "dpop-nonce": nonce, "content-type": "application/json; charset=utf-8" },
  body: JSON.stringify({ error: "use_dpop_nonce", error_description: "Use the DPoP-Nonce" })
})
const ok = (nonce: string, body = `{"hello":"world"}`) => ({
  status: 200,
  headers: { "dpop-nonce": nonce, "content-type": "application/json" },
  body
})

/** A server that wants `nonce`: refuses (with `refuse`) a proof without it, answers 200 with it. */
const wanting = (nonce: string, refuse: (nonce: string) => ReturnType<Answer>, next = nonce): Answer => (seen) =>
  seen.claims.nonce === nonce ? ok(next) : refuse(nonce)

describe("fetch", () => {
  it("sends a proof and the token as DPoP, with ath, htm and htu of the request", async () => {
    const client = createDpopClient()
    const { url, seen } = route(() => ok("n0"))
    const response = await client.fetch(`${url}?q=1#f`, { method: "PUT", body: "x" }, { token: "the-token" })
    assert.strictEqual(response.status, 200)
    assert.deepStrictEqual(await response.json(), { hello: "world" })
    assert.lengthOf(seen, 1)
    const [first] = seen
    assert.strictEqual(first!.authorization, "DPoP the-token")
    assert.deepInclude(first!.claims, { htm: "PUT", htu: url, ath: await sha256("the-token") })
    assert.isUndefined(first!.claims.nonce)
    assert.strictEqual(first!.body, "x")
  })

  it("retries once at a 401 use_dpop_nonce challenge, with the served nonce, and the same body", async () => {
    const client = createDpopClient()
    const { url, seen } = route(wanting("nonce-401", challenge401, "nonce-next"))
    const response = await client.fetch(url, { method: "POST", body: `{"a":1}` }, { token: "t" })
    assert.strictEqual(response.status, 200)
    assert.lengthOf(seen, 2)
    assert.isUndefined(seen[0]!.claims.nonce)
    assert.strictEqual(seen[1]!.claims.nonce, "nonce-401")
    assert.deepStrictEqual(seen.map((s) => s.body), [`{"a":1}`, `{"a":1}`])
    // Two proofs, two jtis: a retry is a new proof, never the refused one again.
    assert.notStrictEqual(seen[0]!.claims.jti, seen[1]!.claims.jti)
    assert.strictEqual(seen[1]!.claims.ath, await sha256("t"))
    // The next request carries the nonce the success handed over: no challenge, one request.
    const again = route(wanting("nonce-next", challenge401))
    assert.strictEqual((await client.fetch(again.url.replace(origin, origin))).status, 200)
    assert.lengthOf(again.seen, 1)
    assert.strictEqual(again.seen[0]!.claims.nonce, "nonce-next")
  })

  it("retries once at a 400 JSON use_dpop_nonce error", async () => {
    const client = createDpopClient()
    const { url, seen } = route(wanting("nonce-400", challenge400))
    const response = await client.fetch(url, { method: "POST", body: "{}" })
    assert.strictEqual(response.status, 200)
    assert.lengthOf(seen, 2)
    assert.strictEqual(seen[1]!.claims.nonce, "nonce-400")
  })

  it("stops after one retry when the server keeps refusing, and hands back its answer whole", async () => {
    for (const refuse of [challenge401, challenge400]) {
      const client = createDpopClient()
      // A new nonce every time, and never satisfied.
      const { url, seen } = route((_, count) => refuse(`n-${count}`))
      const response = await client.fetch(url, { method: "POST", body: "{}" })
      assert.strictEqual(response.status, refuse("x").status)
      assert.lengthOf(seen, 2)
      assert.strictEqual(seen[1]!.claims.nonce, "n-1")
      // The body was only peeked at (a clone): the caller reads all of it.
      assert.strictEqual(await response.text(), refuse("n-2").body)
      // The next call carries the last nonce and again retries at most once.
      await client.fetch(url, { method: "POST", body: "{}" })
      assert.lengthOf(seen, 4)
      assert.strictEqual(seen[2]!.claims.nonce, "n-2")
    }
  })

  it("does not retry when the refusal brings no new nonce", async () => {
    const client = createDpopClient()
    const stale = route(() => ({ ...challenge401("same"), headers: { ...challenge401("same").headers } }))
    await client.fetch(stale.url)
    assert.lengthOf(stale.seen, 2) // the first brought "same" (new to the client): one retry
    await client.fetch(stale.url)
    // The client now sends "same"; refused again with "same": no retry.
    assert.lengthOf(stale.seen, 3)
    const bare = route(() => {
      const { headers, ...rest } = challenge401("x")
      const { "dpop-nonce": _, ...others } = headers
      return { ...rest, headers: others }
    })
    await createDpopClient().fetch(bare.url)
    assert.lengthOf(bare.seen, 1)
  })

  it("retries nothing else: another 401, a 400 that is not JSON or not this error, a 500", async () => {
    const answers: Array<ReturnType<Answer>> = [
      { status: 401, headers: { "www-authenticate": `Bearer error="invalid_token"`, "dpop-nonce": "a" } },
      {
        status: 401,
        headers: { "www-authenticate": `DPoP error="invalid_dpop_proof", algs="ES256"`, "dpop-nonce": "b" }
      },
      { status: 400, headers: { "content-type": "text/plain", "dpop-nonce": "c" }, body: `{"error":"use_dpop_nonce"}` },
      {
        status: 400,
        headers: { "content-type": "application/json", "dpop-nonce": "d" },
        body: `{"error":"invalid_dpop_proof"}`
      },
      { status: 400, headers: { "content-type": "application/json", "dpop-nonce": "e" }, body: `{"error":` },
      {
        status: 500,
        headers: { "content-type": "application/json", "dpop-nonce": "f" },
        body: `{"error":"use_dpop_nonce"}`
      }
    ]
    for (const answer of answers) {
      const { url, seen } = route(() => answer)
      const response = await createDpopClient().fetch(url, { method: "POST", body: "{}" })
      assert.strictEqual(response.status, answer.status)
      assert.strictEqual(await response.text(), answer.body ?? "")
      assert.lengthOf(seen, 1, JSON.stringify(answer))
    }
  })

  it("sends a stream body once: the refusal is handed back, and the nonce is kept for the next try", async () => {
    const client = createDpopClient()
    const { url, seen } = route(wanting("nonce-s", challenge400))
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("streamed"))
          controller.close()
        }
      })
    const init = () => ({ method: "POST", body: stream(), duplex: "half" }) as RequestInit
    const refused = await client.fetch(url, init())
    assert.strictEqual(refused.status, 400)
    assert.lengthOf(seen, 1)
    assert.strictEqual(seen[0]!.body, "streamed")
    const accepted = await client.fetch(url, init())
    assert.strictEqual(accepted.status, 200)
    assert.lengthOf(seen, 2)
    assert.strictEqual(seen[1]!.claims.nonce, "nonce-s")
  })

  it("keeps one nonce per origin", async () => {
    const client = createDpopClient()
    const here = route(() => ok("nonce-here"))
    await client.fetch(here.url)
    const otherOrigin = here.url.replace("127.0.0.1", "localhost")
    await client.fetch(otherOrigin)
    await client.fetch(here.url)
    assert.deepStrictEqual(here.seen.map((s) => s.claims.nonce), [undefined, undefined, "nonce-here"])
    assert.strictEqual(here.seen[1]!.claims.htu, otherOrigin)
  })

  it("takes a Request as input, retried with its body and headers", async () => {
    const client = createDpopClient()
    const { url, seen } = route(wanting("nonce-r", challenge401))
    const response = await client.fetch(
      new Request(url, { method: "POST", body: "as a request", headers: { "x-app": "1" } }),
      undefined,
      { token: "t" }
    )
    assert.strictEqual(response.status, 200)
    assert.deepStrictEqual(seen.map((s) => s.body), ["as a request", "as a request"])
    assert.strictEqual(seen[1]!.authorization, "DPoP t")
  })

  it("every proof verifies, concurrent requests included", async () => {
    const client = createDpopClient()
    const { url, seen } = route(wanting("nonce-c", challenge401))
    const responses = await Promise.all(Array.from({ length: 10 }, () => client.fetch(url, {}, { token: "t" })))
    assert.deepStrictEqual(responses.map((r) => r.status), Array(10).fill(200))
    assert.isAtMost(seen.length, 20)
    for (const s of seen) assert.notProperty(s.claims, "invalid")
    assert.strictEqual(new Set(seen.map((s) => s.claims.jti)).size, seen.length)
  })
})

describe("pair", () => {
  const bootstrap = "/api/auth/bootstrap/bearer"

  it("exchanges the code with a proof (no ath), through the 400 nonce retry", async () => {
    const client = createDpopClient()
    const pairing = { accessToken: "bound", tokenType: "DPoP", expiresAt: 1, session: { sid: "s" } }
    const { base, url, seen } = route(
      (s) => s.claims.nonce === "pair-nonce" ? ok("after", JSON.stringify(pairing)) : challenge400("pair-nonce"),
      bootstrap
    )
    const paired = await client.pair("ABCD-EFGH", { baseUrl: `${base}/`, client: { label: "test" } })
    assert.deepStrictEqual(paired, pairing as never)
    assert.lengthOf(seen, 2)
    for (const s of seen) {
      assert.strictEqual(s.method, "POST")
      assert.deepStrictEqual(JSON.parse(s.body), { credential: "ABCD-EFGH", client: { label: "test" } })
      assert.deepInclude(s.claims, { htm: "POST", htu: url })
      assert.notProperty(s.claims, "ath")
      assert.isUndefined(s.authorization)
    }
    assert.strictEqual(seen[1]!.claims.nonce, "pair-nonce")
    // The key of the proofs is the client's: the server binds the session to this thumbprint.
    assert.strictEqual(
      await Jose.calculateJwkThumbprint((await Jose.decodeProtectedHeader(seen[1]!.dpop!)).jwk!),
      await client.thumbprint()
    )
    // The next proof for that server carries the nonce the pairing's answer handed over.
    const next = await verify(await client.proof({ method: "GET", url: `${base}/x`, accessToken: paired.accessToken }))
    assert.deepInclude(next.payload, { nonce: "after", ath: await sha256("bound") })
  })

  it("rejects with the server's error, in either error shape, or network_error", async () => {
    const refusals: Array<[ReturnType<Answer>, string, number]> = [
      [
        {
          status: 400,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ error: "invalid_dpop_proof", error_description: "The DPoP proof is not valid" })
        },
        "invalid_dpop_proof",
        400
      ],
      [
        {
          status: 401,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ error: { code: "invalid_credential", message: "That code is not valid" } })
        },
        "invalid_credential",
        401
      ],
      [
        { status: 502, headers: { "content-type": "text/html" }, body: "<h1>Bad gateway</h1>" },
        "invalid_response",
        502
      ],
      // A 200 that is not the contract (a captive portal, a proxy's page).
      [{ status: 200, headers: { "content-type": "text/html" }, body: "<h1>Welcome</h1>" }, "invalid_response", 200]
    ]
    for (const [answer, code, status] of refusals) {
      const { base } = route(() => answer, bootstrap)
      const error = await createDpopClient().pair("X", { baseUrl: base }).then(
        () => assert.fail("paired"),
        (error: unknown) => error
      )
      assert.instanceOf(error, GatehouseClientError)
      assert.deepInclude(error as object, { code, status })
    }
    // A port nothing listens on.
    const closed = Http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const error = await createDpopClient().pair("X", { baseUrl: `http://127.0.0.1:${port}` }).catch((e) => e)
    assert.deepInclude(error, { code: "network_error", status: 0 })
  })
})
