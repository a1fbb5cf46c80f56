/**
 * The local-proof routes over real HTTP on loopback, against real files: the success path (then
 * `/api/hello` with the token), and each refusal on its own, every one the same answer (status,
 * body, challenge header). The peer that is not loopback is produced here through a trusted proxy
 * on loopback forwarding another address (the machine's own non-loopback bind is tested against
 * the reference server in packages/server/test/localProof.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, postJson, type RawResponse, request, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import * as fc from "fast-check"
import * as Jose from "jose"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { AuthApi, AuthOpenApi, HttpApiAuth, LocalProofRoutes } from "../src/index.ts"
import { applicationScopes, type ServerOptions, startServer, type TestServer } from "./harness.ts"

const challengePath = "/api/auth/local-proof/challenge"
const redeemPath = "/api/auth/local-proof"
const isRoot = process.getuid?.() === 0

/** The one answer to every refusal. */
const expectedRefusal = {
  status: 401,
  text: JSON.stringify({ error: { code: "invalid_credential", message: "The local proof was not accepted" } }),
  challenge: `Bearer error="invalid_token"`
}

const assertRefused = (response: RawResponse) =>
  assert.deepStrictEqual(
    { status: response.status, text: response.text, challenge: response.headers["www-authenticate"] },
    expectedRefusal
  )

interface ChallengeBody {
  readonly nonce: string
  readonly fileName: string
  readonly directory: string
  readonly expiresAt: number
}

/** A server with the local proof in `<temp>/run` and room for many refusals from one address. */
const setup = (
  options: Omit<ServerOptions, "localProof"> & { readonly localProof?: Partial<ServerOptions["localProof"]> } = {}
) =>
  Effect.gen(function*() {
    const temp = yield* tempDirectory
    const directory = Path.join(temp, "run")
    const server = yield* startServer({
      rateLimit: { capacity: 1000 },
      ...options,
      localProof: { ...options.localProof, directory }
    })
    return { server, directory, temp }
  })

const askChallenge = (server: TestServer, headers: Record<string, string> = {}) =>
  Effect.map(postJson(server.port, challengePath, {}, headers), (response) => {
    return { response, body: response.json as ChallengeBody }
  })

const redeem = (server: TestServer, fileName: string, headers: Record<string, string> = {}) =>
  postJson(server.port, redeemPath, { fileName }, headers)

/** A challenge from the server, asserted to be one. */
const challenge = (server: TestServer) =>
  Effect.map(askChallenge(server), ({ body, response }) => {
    assert.strictEqual(response.status, 200, response.text)
    return body
  })

const fileOf = (body: ChallengeBody) => Path.join(body.directory, body.fileName)

const write = (body: ChallengeBody, contents: string, mode = 0o600) => {
  Fs.writeFileSync(fileOf(body), contents, { mode, flag: "wx" })
  Fs.chmodSync(fileOf(body), mode)
}

describe("local proof over HTTP", () => {
  it.live("as the same user: a bearer session answered like the bearer bootstrap, and /api/hello works with it", () =>
    Effect.gen(function*() {
      const { directory, server } = yield* setup()
      const asked = yield* askChallenge(server)
      assert.strictEqual(asked.response.status, 200)
      assert.strictEqual(asked.response.headers["cache-control"], "no-store")
      assert.deepStrictEqual(Object.keys(asked.body).sort(), ["directory", "expiresAt", "fileName", "nonce"])
      Schema.decodeUnknownSync(AuthApi.LocalProofChallengeResponse)(asked.response.json)
      assert.strictEqual(asked.body.directory, directory)
      assert.match(asked.body.fileName, /^lp-[a-z0-9]{26}$/)
      write(asked.body, `${asked.body.nonce}\n`)
      const redeemed = yield* postJson(server.port, redeemPath, {
        fileName: asked.body.fileName,
        client: { label: "a local tool" }
      })
      assert.strictEqual(redeemed.status, 200, redeemed.text)
      assert.strictEqual(redeemed.headers["cache-control"], "no-store")
      Schema.decodeUnknownSync(AuthApi.BearerBootstrapResponse)(redeemed.json)
      assert.deepStrictEqual(Object.keys(redeemed.json).sort(), ["accessToken", "expiresAt", "session", "tokenType"])
      assert.strictEqual(redeemed.json.tokenType, "Bearer")
      assert.strictEqual(redeemed.json.session.method, "local-proof")
      assert.strictEqual(redeemed.json.session.transport, "bearer")
      assert.strictEqual(redeemed.json.session.client.label, "a local tool")
      assert.deepStrictEqual(redeemed.json.session.scopes, applicationScopes)
      assert.isFalse(Fs.existsSync(fileOf(asked.body)))
      const hello = yield* request(server.port, { path: "/api/hello", headers: bearer(redeemed.json.accessToken) })
      assert.strictEqual(hello.status, 200)
      assert.deepStrictEqual(hello.json, { hello: "owner" })
      // The standard bundle only: the session list is administrative.
      const sessions = yield* request(server.port, {
        path: "/api/auth/sessions",
        headers: bearer(redeemed.json.accessToken)
      })
      assert.strictEqual(sessions.status, 403)
    }).pipe(Effect.scoped))

  it.live(
    "with a DPoP proof the session is bound to its key (after the nonce challenge, the challenge left unburned); requireDpop refuses one without",
    () =>
      Effect.gen(function*() {
        const { server } = yield* setup({ dpop: {} })
        const { privateKey, publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256"))
        const jwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
        const proof = (method: string, path: string, extra: Record<string, string>) =>
          Effect.promise(() =>
            new Jose.SignJWT({
              htm: method,
              htu: `http://127.0.0.1:${server.port}${path}`,
              jti: Crypto.randomUUID(),
              iat: Math.floor(Date.now() / 1000),
              ...extra
            }).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk }).sign(privateKey)
          )
        const asked = yield* challenge(server)
        write(asked, asked.nonce)
        const first = yield* redeem(server, asked.fileName, { dpop: yield* proof("POST", redeemPath, {}) })
        assert.strictEqual(first.status, 400, first.text)
        assert.strictEqual(first.json.error, "use_dpop_nonce")
        const nonce = first.headers["dpop-nonce"] as string
        // The file is still there and the challenge still good: the proof was refused before either.
        assert.isTrue(Fs.existsSync(fileOf(asked)))
        const bound = yield* redeem(server, asked.fileName, { dpop: yield* proof("POST", redeemPath, { nonce }) })
        assert.strictEqual(bound.status, 200, bound.text)
        assert.strictEqual(bound.json.tokenType, "DPoP")
        assert.strictEqual(bound.json.session.jkt, yield* Effect.promise(() => Jose.calculateJwkThumbprint(jwk)))
        assert.isString(bound.headers["dpop-nonce"])
        const token = bound.json.accessToken as string
        const asBearer = yield* request(server.port, { path: "/api/hello", headers: bearer(token) })
        assert.strictEqual(asBearer.status, 401)
        const withProof = yield* request(server.port, {
          path: "/api/hello",
          headers: {
            authorization: `DPoP ${token}`,
            dpop: yield* proof("GET", "/api/hello", {
              nonce,
              ath: Crypto.createHash("sha256").update(token).digest("base64url")
            })
          }
        })
        assert.strictEqual(withProof.status, 200, withProof.text)

        const strict = (yield* setup({ dpop: {}, requireDpop: true })).server
        const strictAsked = yield* challenge(strict)
        write(strictAsked, strictAsked.nonce)
        const unbound = yield* redeem(strict, strictAsked.fileName)
        assert.strictEqual(unbound.status, 400, unbound.text)
        assert.strictEqual(unbound.json.error, "invalid_dpop_proof")
      }).pipe(Effect.scoped)
  )

  it.live("AuthOpenApi.LocalProofGroup describes the routes as served: a typed client (fetch) signs in with them", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const client = yield* HttpApiClient.make(AuthOpenApi.Api, { baseUrl: `http://127.0.0.1:${server.port}` })
      const asked = yield* client.gatehouseLocalProof.localProofChallenge()
      write(asked, `${asked.nonce}\n`)
      const redeemed = yield* client.gatehouseLocalProof.localProof({ payload: { fileName: asked.fileName } })
      assert.strictEqual(redeemed.session.method, "local-proof")
      const refused = yield* Effect.flip(
        client.gatehouseLocalProof.localProof({ payload: { fileName: asked.fileName } })
      )
      assert.instanceOf(refused, HttpApiAuth.Unauthorized)
      assert.strictEqual(refused.error.message, "The local proof was not accepted")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))

  it.live("a challenge may be asked with no body at all", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const response = yield* request(server.port, { method: "POST", path: challengePath })
      assert.strictEqual(response.status, 200, response.text)
      assert.isString(response.json.nonce)
    }).pipe(Effect.scoped))

  it.live("refused: a symbolic link in place of the file", () =>
    Effect.gen(function*() {
      const { server, temp } = yield* setup()
      const body = yield* challenge(server)
      const target = Path.join(temp, "target")
      Fs.writeFileSync(target, body.nonce, { mode: 0o600 })
      Fs.symlinkSync(target, fileOf(body))
      assertRefused(yield* redeem(server, body.fileName))
    }).pipe(Effect.scoped))

  it.live("refused: a FIFO, without hanging", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      ChildProcess.execFileSync("mkfifo", ["-m", "600", fileOf(body)])
      const response = yield* redeem(server, body.fileName).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die(new Error("the FIFO hung")) })
      )
      assertRefused(response)
      assert.isFalse(Fs.existsSync(fileOf(body)))
    }).pipe(Effect.scoped))

  it.live("refused: mode 0644", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      write(body, body.nonce, 0o644)
      assertRefused(yield* redeem(server, body.fileName))
    }).pipe(Effect.scoped))

  it.live("refused: a reused challenge", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      write(body, body.nonce)
      assert.strictEqual((yield* redeem(server, body.fileName)).status, 200)
      write(body, body.nonce)
      assertRefused(yield* redeem(server, body.fileName))
    }).pipe(Effect.scoped))

  it.live("refused: an expired challenge (a 300 ms lifetime, redeemed after 400 ms)", () =>
    Effect.gen(function*() {
      const { server } = yield* setup({ localProof: { ttl: "300 millis" } })
      const body = yield* challenge(server)
      write(body, body.nonce)
      yield* Effect.sleep("400 millis")
      assertRefused(yield* redeem(server, body.fileName))
      assert.isFalse(Fs.existsSync(fileOf(body)))
    }).pipe(Effect.scoped))

  it.live("refused: a wrong nonce", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      write(body, body.nonce.split("").reverse().join(""))
      assertRefused(yield* redeem(server, body.fileName))
    }).pipe(Effect.scoped))

  it.live("refused: an oversized file", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      write(body, body.nonce.padEnd(1025, "\n"))
      assertRefused(yield* redeem(server, body.fileName))
    }).pipe(Effect.scoped))

  it.live("refused: a file name never issued, or not one the server makes", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      for (const fileName of [`lp-${"a".repeat(26)}`, "../../etc/passwd", ""]) {
        assertRefused(yield* redeem(server, fileName))
      }
    }).pipe(Effect.scoped))

  it.live("refused: the directory loosened to 0755, and the directory replaced by a symbolic link", () =>
    Effect.gen(function*() {
      const { directory, server, temp } = yield* setup()
      const body = yield* challenge(server)
      write(body, body.nonce)
      Fs.chmodSync(directory, 0o755)
      assertRefused(yield* redeem(server, body.fileName))
      assertRefused((yield* askChallenge(server)).response)
      Fs.chmodSync(directory, 0o700)
      const second = yield* challenge(server)
      const moved = Path.join(temp, "moved")
      Fs.renameSync(directory, moved)
      Fs.symlinkSync(moved, directory)
      Fs.writeFileSync(Path.join(moved, second.fileName), second.nonce, { mode: 0o600 })
      assertRefused(yield* redeem(server, second.fileName))
      assertRefused((yield* askChallenge(server)).response)
    }).pipe(Effect.scoped))

  it.live.skipIf(!isRoot)(
    "refused: a file of another owner (chowned to 65534; needs root)",
    () =>
      Effect.gen(function*() {
        const { server } = yield* setup()
        const body = yield* challenge(server)
        write(body, body.nonce)
        Fs.chownSync(fileOf(body), 65534, 65534)
        assertRefused(yield* redeem(server, body.fileName))
      }).pipe(Effect.scoped)
  )

  it.live("refused: the cap of outstanding challenges", () =>
    Effect.gen(function*() {
      const { server } = yield* setup({ localProof: { maxOutstanding: 2 } })
      yield* challenge(server)
      yield* challenge(server)
      assertRefused((yield* askChallenge(server)).response)
    }).pipe(Effect.scoped))

  it.live("refused: a request relayed by a trusted proxy on loopback (whatever address it forwards), on both routes", () =>
    Effect.gen(function*() {
      const { server } = yield* setup({ trustedProxies: ["127.0.0.1/32"] })
      const body = yield* challenge(server)
      write(body, body.nonce)
      for (const forwarded of ["203.0.113.7", "127.0.0.1"]) {
        const headers = { "x-forwarded-for": forwarded }
        assertRefused((yield* askChallenge(server, headers)).response)
        assertRefused(yield* redeem(server, body.fileName, headers))
      }
      // Refused before the challenge is looked at: a relayed request cannot burn a local tool's challenge.
      assert.strictEqual((yield* redeem(server, body.fileName)).status, 200)
    }).pipe(Effect.scoped))

  it.live("refused: forwarding headers even from a peer that is not a trusted proxy", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      for (const header of ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip"]) {
        assertRefused((yield* askChallenge(server, { [header]: "for=203.0.113.7" })).response)
      }
    }).pipe(Effect.scoped))

  it.live("refused: a web page of another origin", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      assertRefused((yield* askChallenge(server, { origin: "https://evil.example" })).response)
    }).pipe(Effect.scoped))

  it.live("the redemption's body must be JSON (415), well formed (400); the challenge's an object, never an array", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      const plain = yield* request(server.port, {
        method: "POST",
        path: redeemPath,
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ fileName: body.fileName })
      })
      assert.strictEqual(plain.status, 415)
      const broken = yield* request(server.port, {
        method: "POST",
        path: redeemPath,
        headers: { "content-type": "application/json" },
        body: "{"
      })
      assert.strictEqual(broken.status, 400)
      // The challenge takes nothing, `{}` or no body; an array is not an object (AuthApi.EmptyRequest).
      for (const [text, status] of [["[]", 400], ["[{}]", 400], ["{}", 200], ["{\"ignored\": 1}", 200]] as const) {
        const asked = yield* request(server.port, {
          method: "POST",
          path: challengePath,
          headers: { "content-type": "application/json" },
          body: text
        })
        assert.strictEqual(asked.status, status, `${text}: ${asked.text}`)
      }
    }).pipe(Effect.scoped))

  it.live("rate-limited like the bootstrap: refusals spend the address's pairing budget, then 429", () =>
    Effect.gen(function*() {
      const { server } = yield* setup({ rateLimit: { capacity: 3 } })
      for (let i = 0; i < 3; i++) assertRefused(yield* redeem(server, `lp-${"b".repeat(26)}`))
      const limited = yield* redeem(server, `lp-${"b".repeat(26)}`)
      assert.strictEqual(limited.status, 429)
      assert.isDefined(limited.headers["retry-after"])
    }).pipe(Effect.scoped))

  it.live("redeemed by many requests at once: exactly one session, every other the one refusal", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const body = yield* challenge(server)
      write(body, body.nonce)
      const responses = yield* Effect.forEach(
        Array.from({ length: 12 }, () => redeem(server, body.fileName)),
        (each) => each,
        { concurrency: "unbounded" }
      )
      assert.strictEqual(responses.filter((response) => response.status === 200).length, 1)
      for (const response of responses.filter((each) => each.status !== 200)) assertRefused(response)
    }).pipe(Effect.scoped))

  it("isLoopbackAddress: 127.0.0.0/8 and ::1, mapped or not; nothing else, hostile text included", () => {
    for (const address of ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "::FFFF:127.1.2.3"]) {
      assert.isTrue(LocalProofRoutes.isLoopbackAddress(address), address)
    }
    for (
      const address of [
        "localhost",
        "192.0.2.2",
        "::ffff:192.0.2.2",
        "0.0.0.0",
        "::",
        "128.0.0.1",
        "127.0.0.1.evil",
        "127.0.0.256",
        " 127.0.0.1",
        "[::1]x",
        "fe80::1",
        "",
        "unknown"
      ]
    ) {
      assert.isFalse(LocalProofRoutes.isLoopbackAddress(address), address)
    }
  })

  it("isLoopbackAddress (fast-check): an IPv4 address is loopback exactly when its first octet is 127; junk never is", () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.boolean(),
        (address, mapped) =>
          LocalProofRoutes.isLoopbackAddress(mapped ? `::ffff:${address}` : address) === address.startsWith("127.")
      ),
      { numRuns: 500 }
    )
    fc.assert(
      fc.property(fc.ipV6(), (address) =>
        LocalProofRoutes.isLoopbackAddress(address) ===
          (address === "::1" || /^::ffff:127\.\d+\.\d+\.\d+$/i.test(address))),
      { numRuns: 500 }
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => {
        const answer = LocalProofRoutes.isLoopbackAddress(text)
        return !answer || /^(?:::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$|^(?:::1|\[::1\])$/i.test(text)
      }),
      { numRuns: 1000 }
    )
  })

  it.live("without a LocalProof service the routes do not exist", () =>
    Effect.gen(function*() {
      const server = yield* startServer()
      assert.strictEqual((yield* postJson(server.port, challengePath, {})).status, 404)
      assert.strictEqual((yield* postJson(server.port, redeemPath, { fileName: "x" })).status, 404)
    }).pipe(Effect.scoped))
})
