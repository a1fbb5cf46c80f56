import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { HttpServerRequest } from "effect/http"
import * as fc from "fast-check"
import * as RequestInfo from "../src/RequestInfo.ts"

const requestWith = (headers: Record<string, string>, url = "http://127.0.0.1:3773/api/hello") =>
  HttpServerRequest.fromWeb(new Request(url, { headers }))

describe("RequestInfo", () => {
  it("reads a bearer token strictly", () => {
    const token = (header: string) => {
      const presented = RequestInfo.bearerToken(requestWith({ authorization: header }))
      return presented._tag === "Token" ? Redacted.value(presented.token) : presented._tag
    }
    assert.strictEqual(token("Bearer v1.abc.def.ghi"), "v1.abc.def.ghi")
    assert.strictEqual(token("bearer   abc"), "abc")
    assert.strictEqual(token("BEARER abc=="), "abc==")
    for (
      const bad of [
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a b",
        "Bearer a,b",
        "Bearer a\u00e9",
        `Bearer ${"a".repeat(5000)}`
      ]
    ) {
      assert.strictEqual(token(bad), "Malformed", bad)
    }
    assert.strictEqual(RequestInfo.bearerToken(requestWith({}))._tag, "None")
  })

  it("accepts only loopback Host names for the rebinding guard", () => {
    for (
      const host of ["localhost", "localhost:1", "127.0.0.1", "127.0.0.1:3773", "[::1]", "[::1]:3773", "LocalHost:80"]
    ) {
      assert.isTrue(RequestInfo.isLoopbackHostHeader(host), host)
    }
    for (
      const host of [
        undefined,
        "",
        "evil.example",
        "localhost.evil.example",
        "127.0.0.1.evil",
        "[::2]",
        "127.0.0.2",
        "localhost:abc",
        "user@localhost",
        "localhost/"
      ]
    ) {
      assert.isFalse(RequestInfo.isLoopbackHostHeader(host), String(host))
    }
  })

  it("the loopback address the server is bound to is its own Host; other names stay refused", () => {
    assert.isTrue(RequestInfo.isLoopbackHostHeader("127.0.0.2:3773", "127.0.0.2"))
    assert.isTrue(RequestInfo.isLoopbackHostHeader("127.0.0.2", "127.0.0.2"))
    assert.isTrue(RequestInfo.isLoopbackHostHeader("localhost:3773", "127.0.0.2"))
    for (const host of ["127.0.0.3:3773", "evil.example", "127.0.0.2.evil", "[::2]"]) {
      assert.isFalse(RequestInfo.isLoopbackHostHeader(host, "127.0.0.2"), host)
    }
    // A bound address beyond loopback (a configured loopback policy on 0.0.0.0) adds nothing.
    assert.isFalse(RequestInfo.isLoopbackHostHeader("0.0.0.0:3773", "0.0.0.0"))
    assert.isFalse(RequestInfo.isLoopbackHostHeader("192.168.1.5", "192.168.1.5"))
  })

  it("an Origin must be the server's own, the configured public one, or listed", () => {
    const check = (origin: string | undefined, allowed: ReadonlyArray<string> = [], publicOrigin?: string) =>
      RequestInfo.isOriginAllowed(
        requestWith({ host: "127.0.0.1:3773", ...(origin === undefined ? {} : { origin }) }),
        allowed,
        publicOrigin
      )
    assert.isTrue(check(undefined))
    assert.isTrue(check("http://127.0.0.1:3773"))
    assert.isFalse(check("http://127.0.0.1:3774"))
    assert.isFalse(check("https://127.0.0.1:3773"))
    assert.isFalse(check("null"))
    assert.isTrue(check("https://app.example", ["https://app.example"]))
    assert.isTrue(check("https://auth.example", [], "https://auth.example"))
    // With a public origin configured, the Host-derived origin no longer counts.
    assert.isFalse(check("http://127.0.0.1:3773", [], "https://auth.example"))
  })

  it("describes a client from its User-Agent", () => {
    const client = RequestInfo.describeClient(requestWith({
      "user-agent":
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
    }))
    assert.deepStrictEqual({ ...client, ip: undefined }, {
      os: "Android",
      browser: "Chrome",
      deviceType: "mobile",
      ip: undefined
    })
  })

  it("property: credential readers never throw and never accept control characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (value) => {
        const header = value.replace(/[\r\n\0]/g, "")
        let request: HttpServerRequest.HttpServerRequest
        try {
          request = requestWith({ authorization: `Bearer ${header}`, cookie: `s=${header}` })
        } catch {
          return true // the Web Request refused the header itself
        }
        for (const presented of [RequestInfo.bearerToken(request), RequestInfo.cookieValue(request, "s")]) {
          if (presented._tag === "Token" && /[^\x21-\x7e]/.test(Redacted.value(presented.token))) return false
        }
        RequestInfo.isLoopbackHostHeader(header)
        RequestInfo.hostName(header)
        return true
      }),
      { numRuns: 2000 }
    )
  })
})
