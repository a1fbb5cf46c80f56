/**
 * The README's DPoP snippet, run as written (the code between the markers is the README's,
 * character for character), against a `node:http` server on loopback that acts as a Gatehouse
 * server with nonces: the bearer bootstrap binds the token to the proof's key, and `/api/hello`
 * wants that key's proof, the token's `ath` and the current nonce.
 */
import * as Jose from "jose"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

// README:begin
import { createDpopClient } from "@gatehouse-auth/client/dpop"

const dpop = createDpopClient() // the key: IndexedDB in a browser, memory elsewhere

export const hello = async (baseUrl: string, code: string): Promise<string> => {
  // Pair with a code: the server binds the new session to this client's key.
  const { accessToken, tokenType } = await dpop.pair(code, { baseUrl, client: { label: "My tool" } })
  if (tokenType !== "DPoP") throw new Error("This server does not bind tokens to a key")
  // Every request carries a fresh proof; a nonce challenge is answered by itself, once.
  const response = await dpop.fetch(`${baseUrl}/api/hello`, {}, { token: accessToken })
  return `${response.status} ${await response.text()} (key ${await dpop.thumbprint()})`
}
// README:end

const seen: Array<string> = []
let server: Http.Server
let base: string
let nonce = "nonce-1"
const bound = new Map<string, string>()

const sha256 = (text: string) => Crypto.createHash("sha256").update(text).digest("base64url")

beforeAll(async () => {
  server = Http.createServer(async (request, response) => {
    const url = new URL(request.url!, base)
    const proof = await Jose.jwtVerify(String(request.headers.dpop), Jose.EmbeddedJWK, {
      typ: "dpop+jwt",
      algorithms: ["ES256"]
    }).catch(() => undefined)
    const jkt = proof && await Jose.calculateJwkThumbprint(proof.protectedHeader.jwk!)
    const fresh = proof?.payload.nonce === nonce
    seen.push(`${request.method} ${url.pathname} ${fresh ? "nonce" : "no nonce"}`)
    if (proof === undefined || proof.payload.htu !== `${base}${url.pathname}`) {
      response.writeHead(400, { "content-type": "application/json" }).end(`{"error":"invalid_dpop_proof"}`)
      return
    }
    if (url.pathname === "/api/auth/bootstrap/bearer") {
      if (!fresh) {
        response.writeHead(400, { "content-type": "application/json", "dpop-nonce": nonce })
          .end(`{"error":"use_dpop_nonce"}`)
        return
      }
      bound.set("the-token", jkt!)
      // The next nonce: a rotation between the pairing and the first call.
      nonce = "nonce-2"
      response.writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ accessToken: "the-token", tokenType: "DPoP", expiresAt: 1, session: {} }))
      return
    }
    const token = /^DPoP (.+)$/.exec(request.headers.authorization ?? "")?.[1]
    if (token === undefined || bound.get(token) !== jkt || proof.payload.ath !== sha256(token)) {
      response.writeHead(401, { "www-authenticate": `DPoP error="invalid_token"` }).end()
      return
    }
    if (!fresh) {
      response.writeHead(401, { "www-authenticate": `DPoP error="use_dpop_nonce"`, "dpop-nonce": nonce }).end()
      return
    }
    response.writeHead(200, { "content-type": "application/json", "dpop-nonce": nonce }).end(`{"hello":"owner"}`)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

describe("the README's DPoP usage", () => {
  it("is the README's snippet, character for character", () => {
    const readme = Fs.readFileSync(Path.join(import.meta.dirname, "..", "README.md"), "utf8")
    const self = Fs.readFileSync(import.meta.filename, "utf8")
    const snippet = self.slice(self.indexOf("// README:begin\n") + 16, self.indexOf("// README:end"))
    assert.include(readme, "```ts\n" + snippet + "```")
  })

  it("pairs with a proof, then calls /api/hello bound to the key through a nonce rotation", async () => {
    const result = await hello(base, "ABCD-EFGH")
    const jkt = await dpop.thumbprint()
    assert.strictEqual(result, `200 {"hello":"owner"} (key ${jkt})`)
    assert.strictEqual(bound.get("the-token"), jkt)
    assert.deepStrictEqual(seen, [
      "POST /api/auth/bootstrap/bearer no nonce",
      "POST /api/auth/bootstrap/bearer nonce",
      "GET /api/hello no nonce",
      "GET /api/hello nonce"
    ])
  })
})
