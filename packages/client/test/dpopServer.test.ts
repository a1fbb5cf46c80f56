/**
 * `@gatehouse-auth/client/dpop` in Node 22 against the real reference server (`gatehouse serve`, a
 * child process on loopback, run from the workspace sources): it pairs by the bearer flow with a
 * proof by its key, so the session is bound to that key; `/api/hello` then answers its proofs, with
 * the nonces the server hands over; the token without the key (no proof, `Bearer`, another key's
 * proof, a replayed proof) is refused.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { createDpopClient, memoryKeyStore } from "../src/dpop.ts"

const bin = Path.join(import.meta.dirname, "..", "..", "server", "src", "bin.ts")

let child: ChildProcess
let stateDir: string
let origin: string
let code: string

beforeAll(async () => {
  stateDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-dpop-"))
  child = spawn(
    process.execPath,
    ["--conditions=@gatehouse-auth/source", bin, "serve", "--port", "0", "--state-dir", stateDir],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no pairing URL in 30 s:\n${output}`)), 30_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      const found = /^Pairing URL: (http:\/\/127\.0\.0\.1:\d+)\/pair#token=([0-9A-Z]{16})$/m.exec(output)
      if (found !== null) {
        clearTimeout(timer)
        resolve(found)
      }
    }
    child.stdout!.on("data", read)
    child.stderr!.on("data", read)
    child.once("exit", (exit) => reject(new Error(`the server exited (${exit}):\n${output}`)))
  })
  origin = match[1]!
  code = match[2]!
}, 40_000)

afterAll(async () => {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve))
    child.kill("SIGKILL")
    await exited
  }
  Fs.rmSync(stateDir, { recursive: true, force: true })
})

/** Every request the client sends, with the answer's status. */
const recording = () => {
  const sent: Array<{ path: string; status: number; dpop: string | null; authorization: string | null }> = []
  const fetch = async (request: Request) => {
    const dpop = request.headers.get("dpop")
    const authorization = request.headers.get("authorization")
    const response = await globalThis.fetch(request)
    sent.push({ path: new URL(request.url).pathname, status: response.status, dpop, authorization })
    return response
  }
  return { sent, fetch }
}

describe("the dpop client against gatehouse serve", () => {
  it("pairs bound to its key, calls /api/hello with proofs, and the token alone is refused", async () => {
    const { sent, fetch } = recording()
    const client = createDpopClient({ keyStore: memoryKeyStore(), fetch })
    const paired = await client.pair(code, { baseUrl: origin, client: { label: "dpop test" } })
    assert.strictEqual(paired.tokenType, "DPoP")
    const jkt = await client.thumbprint()
    assert.strictEqual((paired.session as { jkt?: string }).jkt, jkt)
    // Nonces are on by default: the first proof (no nonce yet) is answered 400 use_dpop_nonce.
    assert.deepStrictEqual(sent.map((s) => `${s.path} ${s.status}`), [
      "/api/auth/bootstrap/bearer 400",
      "/api/auth/bootstrap/bearer 200"
    ])

    const calls = 5
    for (let i = 0; i < calls; i++) {
      const response = await client.fetch(`${origin}/api/hello`, {}, { token: paired.accessToken })
      assert.strictEqual(response.status, 200, await response.clone().text())
      assert.property(await response.json(), "hello")
    }
    // Each answer handed over the next nonce: no further challenge, one request per call.
    const hellos = sent.filter((s) => s.path === "/api/hello")
    assert.deepStrictEqual(hellos.map((s) => s.status), Array(calls).fill(200))
    for (const s of hellos) assert.strictEqual(s.authorization, `DPoP ${paired.accessToken}`)

    const hello = (headers: Record<string, string>) => globalThis.fetch(`${origin}/api/hello`, { headers })
    // The token replayed without a proof, as DPoP and as Bearer.
    assert.strictEqual((await hello({ authorization: `DPoP ${paired.accessToken}` })).status, 401)
    const asBearer = await hello({ authorization: `Bearer ${paired.accessToken}` })
    assert.strictEqual(asBearer.status, 401)
    assert.match(asBearer.headers.get("www-authenticate") ?? "", /DPoP/)
    // A proof the server already accepted, sent again.
    const last = hellos.at(-1)!
    assert.strictEqual(
      (await hello({ authorization: last.authorization!, dpop: last.dpop! })).status,
      401
    )
    // A fresh, valid proof by another key (another device holding the copied token).
    const thief = createDpopClient({ keyStore: memoryKeyStore() })
    const stolen = await thief.fetch(`${origin}/api/hello`, {}, { token: paired.accessToken })
    assert.strictEqual(stolen.status, 401)
    // The owner's client still works.
    assert.strictEqual((await client.fetch(`${origin}/api/hello`, {}, { token: paired.accessToken })).status, 200)
  })
})
