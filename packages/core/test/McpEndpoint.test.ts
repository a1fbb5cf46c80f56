import { assert, describe, it } from "@effect/vitest"
import * as McpEndpoint from "../src/McpEndpoint.ts"

describe("endpoint", () => {
  it("wildcard bind hosts become 127.0.0.1", () => {
    for (const host of ["0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0", "", " 0.0.0.0 "]) {
      assert.strictEqual(McpEndpoint.advertisedHost(host), "127.0.0.1", JSON.stringify(host))
    }
  })

  it("IPv6 hosts are bracketed, others kept", () => {
    assert.strictEqual(McpEndpoint.advertisedHost("::1"), "[::1]")
    assert.strictEqual(McpEndpoint.advertisedHost("[::1]"), "[::1]")
    assert.strictEqual(McpEndpoint.advertisedHost("fe80::1"), "[fe80::1]")
    assert.strictEqual(McpEndpoint.advertisedHost("FE80:0:0:0:0:0:0:1"), "[fe80::1]")
    assert.strictEqual(McpEndpoint.advertisedHost("127.0.0.1"), "127.0.0.1")
    assert.strictEqual(McpEndpoint.advertisedHost("192.168.1.20"), "192.168.1.20")
    assert.strictEqual(McpEndpoint.advertisedHost("localhost"), "localhost")
  })

  it("the port is kept, scheme and path apply", () => {
    assert.strictEqual(McpEndpoint.endpointUrl({ host: "0.0.0.0", port: 3773 }), "http://127.0.0.1:3773/mcp")
    assert.strictEqual(McpEndpoint.endpointUrl({ host: "::", port: 80 }), "http://127.0.0.1:80/mcp")
    assert.strictEqual(McpEndpoint.endpointUrl({ host: "::1", port: 4000 }), "http://[::1]:4000/mcp")
    assert.strictEqual(
      McpEndpoint.endpointUrl({ host: "fe80::1", port: 443, scheme: "https" }),
      "https://[fe80::1]:443/mcp"
    )
    assert.strictEqual(
      McpEndpoint.endpointUrl({ host: "box.local", port: 8080, path: "agent" }),
      "http://box.local:8080/agent"
    )
  })
})
