/**
 * Where the OAuth authorization server is: derived from the Host the client used on loopback, the
 * public origin when one is configured, and nothing (OAuth refused) over plain HTTP elsewhere.
 */
import { assert, describe, it } from "@effect/vitest"
import { HttpServerRequest } from "effect/http"
import { OAuthMetadata } from "../src/index.ts"

const requestTo = (url: string, host: string) => HttpServerRequest.fromWeb(new Request(url, { headers: { host } }))

describe("OAuthMetadata.endpointsFor", () => {
  it("loopback: each of the three names as the client used it, port included", () => {
    for (const host of ["localhost:3773", "127.0.0.1:3773", "[::1]:3773"]) {
      const found = OAuthMetadata.endpointsFor(
        requestTo(`http://${host}/mcp`, host),
        { publicOrigin: undefined },
        "/mcp"
      )
      assert.deepStrictEqual(found, {
        origin: `http://${host}`,
        issuer: `http://${host}`,
        resource: `http://${host}/mcp`,
        resourceMetadata: `http://${host}/.well-known/oauth-protected-resource/mcp`
      })
    }
  })

  it("the public origin wins whatever the Host; plain HTTP off loopback is refused", () => {
    const behind = OAuthMetadata.endpointsFor(
      requestTo("http://10.0.0.5:3773/mcp", "10.0.0.5:3773"),
      { publicOrigin: "https://auth.example.com" },
      "/mcp"
    )
    assert.strictEqual(behind?.issuer, "https://auth.example.com")
    assert.strictEqual(behind?.resource, "https://auth.example.com/mcp")
    assert.isUndefined(
      OAuthMetadata.endpointsFor(
        requestTo("http://10.0.0.5:3773/mcp", "10.0.0.5:3773"),
        { publicOrigin: "http://gatehouse.lan" },
        "/mcp"
      )
    )
    assert.strictEqual(
      OAuthMetadata.endpointsFor(requestTo("http://127.0.0.1:1/mcp", "127.0.0.1:1"), {
        publicOrigin: "http://localhost:3773"
      }, "/mcp")?.issuer,
      "http://localhost:3773"
    )
    for (const host of ["10.0.0.5:3773", "gatehouse.lan", "127.0.0.2:3773", "localhost.attacker.example"]) {
      assert.isUndefined(
        OAuthMetadata.endpointsFor(requestTo(`http://${host}/mcp`, host), { publicOrigin: undefined }, "/mcp"),
        host
      )
    }
  })
})
