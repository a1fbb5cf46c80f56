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

describe("RequestInfo: DPoP", () => {
  const dpopToken = (header: string | undefined) => {
    const presented = RequestInfo.dpopToken(requestWith(header === undefined ? {} : { authorization: header }))
    return presented._tag === "Token" ? Redacted.value(presented.token) : presented._tag
  }

  it("reads Authorization: DPoP strictly, and only that scheme", () => {
    assert.strictEqual(dpopToken("DPoP abc.def"), "abc.def")
    assert.strictEqual(dpopToken("dpop   abc"), "abc")
    assert.strictEqual(dpopToken("Bearer abc"), "None")
    assert.strictEqual(dpopToken(undefined), "None")
    for (const bad of ["DPoP a b", "DPoP a,b", "DPoP a\u00e9", `DPoP ${"a".repeat(5000)}`]) {
      assert.strictEqual(dpopToken(bad), "Malformed", bad)
    }
    assert.isTrue(RequestInfo.isDpopScheme(requestWith({ authorization: "DPoP x" })))
    assert.isTrue(RequestInfo.isDpopScheme(requestWith({ authorization: "dpop" })))
    assert.isFalse(RequestInfo.isDpopScheme(requestWith({ authorization: "DPoPx y" })))
    assert.isFalse(RequestInfo.isDpopScheme(requestWith({ authorization: "Bearer x" })))
  })

  it("any Authorization value: dpopToken is total, and a token it returns is token68 within the limit", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (value) => {
        let request: HttpServerRequest.HttpServerRequest
        try {
          request = requestWith({ authorization: value })
        } catch {
          return // not a header value the platform accepts at all
        }
        const presented = RequestInfo.dpopToken(request)
        if (presented._tag === "Token") {
          const token = Redacted.value(presented.token)
          assert.match(token, /^[A-Za-z0-9\-._~+/]+=*$/)
          assert.isAtMost(token.length, RequestInfo.maxCredentialLength)
          assert.isTrue(RequestInfo.isDpopScheme(request))
        }
      }),
      { numRuns: 500 }
    )
  })

  it("every DPoP header value comes back: none, one, or each of several", () => {
    assert.deepStrictEqual(RequestInfo.dpopProofs(requestWith({})), [])
    assert.deepStrictEqual(RequestInfo.dpopProofs(requestWith({ dpop: "a.b.c" })), ["a.b.c"])
    // Node joins repeated headers with ", ".
    assert.deepStrictEqual(RequestInfo.dpopProofs(requestWith({ dpop: "a.b.c, d.e.f" })), ["a.b.c", "d.e.f"])
    fc.assert(
      fc.property(
        fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,20}\.[A-Za-z0-9_-]{1,20}\.[A-Za-z0-9_-]{0,20}$/), {
          minLength: 1,
          maxLength: 5
        }),
        (proofs) => {
          assert.deepStrictEqual(RequestInfo.dpopProofs(requestWith({ dpop: proofs.join(", ") })), proofs)
        }
      )
    )
  })

  it("the public URL: the configured origin, else scheme and Host, then path and query", () => {
    const at = (url: string, headers: Record<string, string> = {}, origin?: string) =>
      RequestInfo.publicUrl(HttpServerRequest.fromWeb(new Request(url, { headers })), origin)
    assert.strictEqual(
      at("http://127.0.0.1:3773/api/hello?x=1", { host: "127.0.0.1:3773" }),
      "http://127.0.0.1:3773/api/hello?x=1"
    )
    assert.strictEqual(
      at("http://127.0.0.1:3773/api/hello", {}, "https://auth.example.com"),
      "https://auth.example.com/api/hello"
    )
    fc.assert(
      fc.property(fc.webPath(), fc.webQueryParameters(), (path, query) => {
        const url = `http://127.0.0.1:3773${path.startsWith("/") ? path : `/${path}`}${query ? `?${query}` : ""}`
        const built = at(url, {}, "https://auth.example.com")
        assert.isTrue(built.startsWith("https://auth.example.com/"), built)
        // Whatever the path, the origin is the configured one: a path never moves the authority.
        assert.strictEqual(new URL(built).origin, "https://auth.example.com")
      })
    )
  })
})
