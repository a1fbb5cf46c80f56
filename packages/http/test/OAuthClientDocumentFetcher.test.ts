/**
 * The SSRF rules of client ID metadata documents: which addresses are never fetched, the URL rules
 * of a document client id (with hostile input, property-tested), and `Cache-Control` reading.
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthClientDocuments } from "@gatehouse-auth/core"
import * as fc from "fast-check"
import { OAuthClientDocumentFetcher } from "../src/index.ts"

describe("OAuthClientDocumentFetcher", () => {
  it("refuses private, loopback, link-local, CGNAT, unique-local, mapped and reserved addresses", () => {
    for (
      const address of [
        "127.0.0.1",
        "127.255.0.9",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "::",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "::ffff:7f00:1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "ff02::1",
        "not-an-address"
      ]
    ) assert.isTrue(OAuthClientDocumentFetcher.isForbiddenAddress(address), address)
    for (const address of ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "2a00:1450::1"]) {
      assert.isFalse(OAuthClientDocumentFetcher.isForbiddenAddress(address), address)
    }
  })

  it("property: every IPv4 address in 10/8, 127/8, 169.254/16, 192.168/16 is refused, also mapped into IPv6", () =>
    fc.assert(fc.property(
      fc.constantFrom([10], [127], [169, 254], [192, 168]),
      fc.array(fc.nat(255), { minLength: 3, maxLength: 3 }),
      (prefix, rest) => {
        const address = [...prefix, ...rest].slice(0, 4).join(".")
        assert.isTrue(OAuthClientDocumentFetcher.isForbiddenAddress(address))
        assert.isTrue(OAuthClientDocumentFetcher.isForbiddenAddress(`::ffff:${address}`))
      }
    )))

  it("Cache-Control: max-age, and 0 for no-store, no-cache or none", () => {
    assert.strictEqual(OAuthClientDocumentFetcher.maxAgeOf("public, max-age=600"), 600)
    assert.strictEqual(OAuthClientDocumentFetcher.maxAgeOf("max-age=600, no-store"), 0)
    assert.strictEqual(OAuthClientDocumentFetcher.maxAgeOf("no-cache"), 0)
    assert.strictEqual(OAuthClientDocumentFetcher.maxAgeOf(undefined), 0)
    assert.strictEqual(OAuthClientDocumentFetcher.maxAgeOf("max-age=abc"), 0)
  })
})

describe("OAuthClientDocuments.clientIdUrl", () => {
  it("https with a path; no userinfo, fragment, dot segments, root path or non-normal spelling", () => {
    assert.isDefined(OAuthClientDocuments.clientIdUrl("https://agent.example/oauth/client.json"))
    assert.isDefined(OAuthClientDocuments.clientIdUrl("https://agent.example:8443/c?v=1"))
    for (
      const bad of [
        "http://agent.example/client.json",
        "https://agent.example",
        "https://agent.example/",
        "https://user@agent.example/c",
        "https://agent.example/c#f",
        "https://agent.example/a/../c",
        "https://agent.example/./c",
        "https://agent.example/%2e%2e/c",
        "https://AGENT.example/c",
        "https://agent.example/c d",
        `https://agent.example/${"a".repeat(600)}`
      ]
    ) assert.isUndefined(OAuthClientDocuments.clientIdUrl(bad), bad)
  })

  it("property: an accepted client id is https, has a path, and parses back to itself", () =>
    fc.assert(
      fc.property(fc.oneof(fc.webUrl({ withFragments: true, withQueryParameters: true }), fc.string()), (text) => {
        const url = OAuthClientDocuments.clientIdUrl(text)
        if (url === undefined) return
        assert.strictEqual(url.protocol, "https:")
        assert.notStrictEqual(url.pathname, "/")
        assert.strictEqual(url.href, text)
        assert.strictEqual(url.hash, "")
        assert.strictEqual(url.username, "")
      })
    ))
})
