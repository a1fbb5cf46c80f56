import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { ConfigProvider, Context, Duration, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Crypto from "node:crypto"
import * as Ids from "../src/Ids.ts"
import * as Mcp from "../src/McpSessionRegistry.ts"

const minute = 60_000
const day = Duration.toMillis(Duration.days(1))

/** A fresh registry (and its inspector) for one test, alive until the test's scope closes. */
const setup = (options: Partial<Mcp.Options> = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Mcp.layerTest(options))
    return {
      registry: Context.get(context, Mcp.McpSessionRegistry),
      inspector: Context.get(context, Mcp.McpSessionRegistryInspector)
    }
  })

const tokenOf = (issued: Mcp.IssuedMcpCredential) => {
  const header = Redacted.value(issued.authorizationHeader)
  assert.match(header, /^Bearer [A-Za-z0-9_-]{43}$/)
  return header.slice("Bearer ".length)
}

const thread = (threadId: string, providerInstanceId = "provider-1") => ({ threadId, providerInstanceId })

const resolvedThread = (registry: Mcp.McpSessionRegistryShape, token: string) =>
  Effect.map(registry.resolve(token), Option.map((principal) => principal.threadId))

describe("McpSessionRegistry", () => {
  it.effect("issue hands out endpoint, Bearer header and expiry; resolve returns the principal", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup({ endpoint: { host: "0.0.0.0", port: 4321 } })
      const issued = yield* registry.issue({ ...thread("thread-a"), capabilities: ["read:hello", "read:hello"] })
      const token = tokenOf(issued)
      assert.strictEqual(issued.endpoint, "http://127.0.0.1:4321/mcp")
      assert.strictEqual(issued.expiresAt, 30 * day)
      assert.strictEqual(String(issued.authorizationHeader), "<redacted:mcp-authorization>")
      assert.deepStrictEqual(
        yield* registry.resolve(token),
        Option.some({
          threadId: "thread-a",
          providerInstanceId: "provider-1",
          capabilities: ["read:hello"]
        })
      )
      assert.isTrue(Option.isSome(yield* registry.resolve(Redacted.make(token))))
      // The header value is not the token; nor is any near miss.
      assert.isTrue(Option.isNone(yield* registry.resolve(`Bearer ${token}`)))
      assert.isTrue(Option.isNone(yield* registry.resolve(token.slice(0, -1) + (token.endsWith("A") ? "B" : "A"))))
      assert.isTrue(Option.isNone(yield* registry.resolve(` ${token}`)))
    }))

  it.effect("only the SHA-256 of the token is held, never the token", () =>
    Effect.gen(function*() {
      const { inspector, registry } = yield* setup()
      const tokens = [
        tokenOf(yield* registry.issue(thread("thread-a"))),
        tokenOf(yield* registry.issue(thread("thread-b", "provider-2")))
      ]
      yield* registry.resolve(tokens[0]!)
      const expectedKeys = tokens.map((token) => Crypto.createHash("sha256").update(token).digest("base64url"))
      assert.sameMembers([...inspector.entries.keys()], expectedKeys)
      // Everything reachable from the map, in any encoding a token could hide in.
      const stored = JSON.stringify([...inspector.entries])
      for (const token of tokens) {
        const bytes = Buffer.from(token, "base64url")
        for (const form of [token, bytes.toString("hex"), bytes.toString("base64"), bytes.toString("latin1")]) {
          assert.notInclude(stored, form)
        }
      }
      for (const entry of inspector.entries.values()) {
        assert.sameMembers(Object.keys(entry), [
          "id",
          "principal",
          "resolved",
          "sessionId",
          "createdAt",
          "absoluteExpiresAt",
          "lastUsedAt",
          "expiresAt"
        ])
      }
      const listed = JSON.stringify(yield* registry.list)
      for (const secret of [...tokens, ...expectedKeys]) assert.notInclude(listed, secret)
    }))

  it.effect("a credential resolved every 10 minutes outlives its original expiry (31 days)", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup()
      const issued = yield* registry.issue(thread("busy"))
      const token = tokenOf(issued)
      const steps = (31 * day) / (10 * minute)
      for (let step = 1; step <= steps; step++) {
        yield* TestClock.adjust(Duration.minutes(10))
        assert.isTrue(Option.isSome(yield* registry.resolve(token)), `step ${step}`)
      }
      const now = 31 * day
      assert.isAbove(now, issued.expiresAt)
      const [info] = yield* registry.list
      assert.strictEqual(info!.lastUsedAt, now)
      assert.strictEqual(info!.expiresAt, now + 30 * day)
    }))

  it.effect("an unused credential dies exactly 30 minutes after its last use", () =>
    Effect.gen(function*() {
      const { inspector, registry } = yield* setup()
      const quiet = tokenOf(yield* registry.issue(thread("quiet")))
      const untouched = tokenOf(yield* registry.issue(thread("untouched")))
      yield* TestClock.adjust(Duration.minutes(10))
      assert.isTrue(Option.isSome(yield* registry.resolve(quiet)))
      // 30 min - 1 ms after the last use; `list` looks without using.
      yield* TestClock.adjust(Duration.millis(30 * minute - 1))
      assert.sameMembers((yield* registry.list).map((info) => info.threadId), ["quiet"])
      yield* TestClock.adjust(Duration.millis(1))
      assert.deepStrictEqual(yield* registry.resolve(quiet), Option.none())
      assert.deepStrictEqual(yield* registry.resolve(untouched), Option.none())
      assert.strictEqual(inspector.entries.size, 0)
    }))

  it.effect("resolving at 30 min - 1 ms keeps it alive; it then dies 30 min after that use", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup()
      const token = tokenOf(yield* registry.issue(thread("edge")))
      yield* TestClock.adjust(Duration.millis(30 * minute - 1))
      assert.isTrue(Option.isSome(yield* registry.resolve(token)))
      yield* TestClock.adjust(Duration.millis(30 * minute - 1))
      assert.strictEqual(yield* registry.count, 1)
      yield* TestClock.adjust(Duration.millis(1))
      assert.isTrue(Option.isNone(yield* registry.resolve(token)))
    }))

  it.effect("with an idle timeout longer than the max lifetime, an unused credential dies at the max lifetime", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup({ idleTimeout: Duration.days(60), maxLifetime: Duration.days(1) })
      const unused = tokenOf(yield* registry.issue(thread("unused")))
      const used = tokenOf(yield* registry.issue(thread("used")))
      yield* TestClock.adjust(Duration.hours(12))
      assert.isTrue(Option.isSome(yield* registry.resolve(used)))
      yield* TestClock.adjust(Duration.millis(12 * 60 * minute - 1))
      assert.sameMembers((yield* registry.list).map((info) => info.threadId), ["unused", "used"])
      yield* TestClock.adjust(Duration.millis(1))
      assert.isTrue(Option.isNone(yield* registry.resolve(unused)))
      // The used one slid to 12 h + 1 day and dies there, unused since.
      yield* TestClock.adjust(Duration.millis(12 * 60 * minute - 1))
      assert.strictEqual(yield* registry.count, 1)
      yield* TestClock.adjust(Duration.millis(1))
      assert.isTrue(Option.isNone(yield* registry.resolve(used)))
    }))

  it.effect("issuing again for a thread revokes its earlier credential", () =>
    Effect.gen(function*() {
      const { inspector, registry } = yield* setup()
      const first = tokenOf(yield* registry.issue(thread("thread-a")))
      const other = tokenOf(yield* registry.issue(thread("thread-b")))
      const second = tokenOf(yield* registry.issue(thread("thread-a", "provider-2")))
      assert.isTrue(Option.isNone(yield* registry.resolve(first)))
      assert.deepStrictEqual(
        Option.map(yield* registry.resolve(second), (p) => p.providerInstanceId),
        Option.some("provider-2")
      )
      assert.deepStrictEqual(yield* resolvedThread(registry, other), Option.some("thread-b"))
      assert.strictEqual(inspector.entries.size, 2)
    }))

  it.effect("revokeProviderSession touches only that provider's credentials", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup()
      const a = tokenOf(yield* registry.issue(thread("a", "provider-1")))
      const b = tokenOf(yield* registry.issue(thread("b", "provider-1")))
      const c = tokenOf(yield* registry.issue(thread("c", "provider-2")))
      assert.strictEqual(yield* registry.revokeProviderSession("provider-1"), 2)
      assert.isTrue(Option.isNone(yield* registry.resolve(a)))
      assert.isTrue(Option.isNone(yield* registry.resolve(b)))
      assert.deepStrictEqual(yield* resolvedThread(registry, c), Option.some("c"))
      assert.strictEqual(yield* registry.revokeProviderSession("provider-1"), 0)
      assert.strictEqual(yield* registry.revokeProviderSession("unknown"), 0)
      // A revoked thread can be issued a new credential.
      const again = tokenOf(yield* registry.issue(thread("a", "provider-1")))
      assert.deepStrictEqual(yield* resolvedThread(registry, again), Option.some("a"))
    }))

  it.effect("revokeThread revokes that thread only", () =>
    Effect.gen(function*() {
      const { inspector, registry } = yield* setup()
      const a = tokenOf(yield* registry.issue(thread("a")))
      const b = tokenOf(yield* registry.issue(thread("b")))
      assert.strictEqual(yield* registry.revokeThread("a"), 1)
      assert.strictEqual(yield* registry.revokeThread("a"), 0)
      assert.isTrue(Option.isNone(yield* registry.resolve(a)))
      assert.deepStrictEqual(yield* resolvedThread(registry, b), Option.some("b"))
      assert.strictEqual(inspector.entries.size, 1)
    }))

  it.effect("revokeAll revokes everything", () =>
    Effect.gen(function*() {
      const { inspector, registry } = yield* setup()
      const tokens = [tokenOf(yield* registry.issue(thread("a"))), tokenOf(yield* registry.issue(thread("b")))]
      assert.strictEqual(yield* registry.revokeAll, 2)
      for (const token of tokens) assert.isTrue(Option.isNone(yield* registry.resolve(token)))
      assert.strictEqual(inspector.entries.size, 0)
      assert.strictEqual(yield* registry.count, 0)
    }))

  it.effect("revokeAll runs when the layer's scope closes", () =>
    Effect.gen(function*() {
      for (const layer of [Mcp.layer({ endpoint: { host: "127.0.0.1", port: 3773 } }), Mcp.layerTest()]) {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(layer, scope)
        const registry = Context.get(context, Mcp.McpSessionRegistry)
        const token = tokenOf(yield* registry.issue(thread("a")))
        assert.isTrue(Option.isSome(yield* registry.resolve(token)))
        yield* Scope.close(scope, Exit.void)
        assert.isTrue(Option.isNone(yield* registry.resolve(token)))
        assert.strictEqual(yield* registry.count, 0)
      }
    }))

  it.effect("however busy, a credential dies at createdAt + absoluteLifetime (default 90 days)", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup({ idleTimeout: Duration.days(2) })
      const issued = yield* registry.issue(thread("busy"))
      assert.strictEqual(issued.credential.absoluteExpiresAt, 90 * day)
      const token = tokenOf(issued)
      for (let elapsed = 0; elapsed < 89; elapsed++) {
        yield* TestClock.adjust(Duration.days(1))
        assert.isTrue(Option.isSome(yield* registry.resolve(token)), `day ${elapsed + 1}`)
      }
      // Day 89: the sliding deadline (now + 30 days) is capped at day 90.
      const [listed] = yield* registry.list
      assert.strictEqual(listed!.expiresAt, 90 * day)
      assert.strictEqual(listed!.absoluteExpiresAt, 90 * day)
      yield* TestClock.adjust(day - 1)
      assert.isTrue(Option.isSome(yield* registry.resolve(token)))
      yield* TestClock.adjust(1)
      assert.isTrue(Option.isNone(yield* registry.resolve(token)))
    }))

  it.effect("absoluteLifetime is configurable, also from GATEHOUSE_MCP_ABSOLUTE_LIFETIME; expiresAt is the earlier deadline", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup({ absoluteLifetime: Duration.days(3) })
      const issued = yield* registry.issue(thread("short"))
      assert.strictEqual(issued.expiresAt, 3 * day)
      assert.strictEqual(issued.credential.absoluteExpiresAt, 3 * day)
      const fromEnv = yield* Layer.build(
        Mcp.layerConfig({ endpoint: { host: "127.0.0.1", port: 1 } }).pipe(
          Layer.provide(
            ConfigProvider.layer(ConfigProvider.fromEnv({ env: { GATEHOUSE_MCP_ABSOLUTE_LIFETIME: "2d" } }))
          )
        )
      )
      const fromEnvIssued = yield* Context.get(fromEnv, Mcp.McpSessionRegistry).issue(thread("env"))
      assert.strictEqual(fromEnvIssued.credential.absoluteExpiresAt, 2 * day)
      const bad = yield* Effect.exit(Layer.build(Mcp.layerTest({ absoluteLifetime: -1 })))
      assert.strictEqual(errorTag(bad), "InvalidDuration")
    }))

  it.effect("revoke(id) and revokeSessions end exactly the credentials named", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup()
      const a = Ids.SessionId.make("session-a")
      const one = yield* registry.issue({ ...thread("one"), sessionId: a })
      const two = yield* registry.issue({ ...thread("two"), sessionId: a })
      const three = yield* registry.issue({ ...thread("three"), sessionId: Ids.SessionId.make("session-b") })
      assert.isTrue(yield* registry.revoke(one.credential.id))
      assert.isFalse(yield* registry.revoke(one.credential.id))
      assert.isFalse(yield* registry.revoke(Ids.McpCredentialId.make("mcp_nothing")))
      assert.isTrue(Option.isNone(yield* registry.resolve(tokenOf(one))))
      assert.sameMembers([...(yield* registry.sessionIds)], [a, Ids.SessionId.make("session-b")])
      assert.strictEqual(yield* registry.revokeSessions([a]), 1)
      assert.isTrue(Option.isNone(yield* registry.resolve(tokenOf(two))))
      assert.isTrue(Option.isSome(yield* registry.resolve(tokenOf(three))))
      assert.deepStrictEqual(yield* registry.sessionIds, [Ids.SessionId.make("session-b")])
      // A new credential for a thread replaces the old one in every index.
      const again = yield* registry.issue({ ...thread("three"), sessionId: a })
      assert.isFalse(yield* registry.revoke(three.credential.id))
      assert.deepStrictEqual(yield* registry.sessionIds, [a])
      assert.strictEqual(yield* registry.revokeAll, 1)
      assert.isTrue(Option.isNone(yield* registry.resolve(tokenOf(again))))
      assert.deepStrictEqual(yield* registry.sessionIds, [])
    }))

  it.effect("list shows live credentials oldest first, without tokens", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup()
      const first = yield* registry.issue(thread("first"))
      yield* TestClock.adjust(Duration.seconds(1))
      const second = yield* registry.issue({
        ...thread("second", "provider-2"),
        capabilities: ["write:tasks"],
        sessionId: Ids.SessionId.make("session-1")
      })
      assert.match(first.credential.id, /^mcp_[A-Za-z0-9_-]{16}$/)
      assert.notStrictEqual(first.credential.id, second.credential.id)
      assert.notInclude(first.credential.id, tokenOf(first))
      assert.deepStrictEqual(yield* registry.list, [
        {
          id: first.credential.id,
          createdBy: undefined,
          absoluteExpiresAt: 90 * day,
          threadId: "first",
          providerInstanceId: "provider-1",
          capabilities: [],
          createdAt: 0,
          lastUsedAt: 0,
          expiresAt: 30 * day
        },
        {
          id: second.credential.id,
          createdBy: Ids.SessionId.make("session-1"),
          absoluteExpiresAt: 90 * day + 1000,
          threadId: "second",
          providerInstanceId: "provider-2",
          capabilities: ["write:tasks"],
          createdAt: 1000,
          lastUsedAt: 1000,
          expiresAt: 30 * day + 1000
        }
      ])
      assert.strictEqual(yield* registry.count, 2)
    }))

  it.effect("issue refuses malformed input; default capabilities come from the layer", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup({ defaultCapabilities: ["read:hello"] })
      const bad = [
        thread(""),
        thread("a", ""),
        thread("x".repeat(257)),
        { ...thread("a"), capabilities: ["not a scope"] },
        { ...thread("a"), capabilities: Array.from({ length: 65 }, (_, i) => `read:t${i}`) },
        { threadId: 1 as unknown as string, providerInstanceId: "p" }
      ]
      for (const input of bad) {
        assert.strictEqual(errorTag(yield* Effect.exit(registry.issue(input))), "InvalidRequest")
      }
      assert.strictEqual(yield* registry.count, 0)
      const token = tokenOf(yield* registry.issue(thread("a")))
      assert.deepStrictEqual(
        Option.map(yield* registry.resolve(token), (p) => p.capabilities),
        Option.some(["read:hello"])
      )
    }))

  it.effect("maxCredentials caps live credentials; dead ones make room", () =>
    Effect.gen(function*() {
      const { registry } = yield* setup({ maxCredentials: 2 })
      yield* registry.issue(thread("a"))
      yield* registry.issue(thread("b"))
      // Re-issuing for a thread replaces, so it does not count against the cap.
      yield* registry.issue(thread("b"))
      assert.strictEqual(errorTag(yield* Effect.exit(registry.issue(thread("c")))), "TooManyMcpCredentials")
      yield* TestClock.adjust(Duration.minutes(30))
      assert.strictEqual(errorTag(yield* Effect.exit(registry.issue(thread("c")))), "success")
    }))

  it.effect("the layer refuses unusable settings", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<Partial<Mcp.Options>> = [
        { endpoint: { host: "127.0.0.1", port: 0 } },
        { endpoint: { host: "127.0.0.1", port: 65536 } },
        { endpoint: { host: "evil.example/x?", port: 80 } },
        { endpoint: { host: "a@b", port: 80 } },
        { endpoint: { host: "fe80::1%eth0", port: 80 } },
        { endpoint: { host: "127.0.0.1", port: 80, path: "/mcp?x=1" } },
        { endpoint: { host: "127.0.0.1", port: 80, scheme: "ftp" as "http" } },
        { maxCredentials: 0 },
        { defaultCapabilities: ["NOT A SCOPE"] }
      ]
      for (const options of bad) {
        const exit = yield* Effect.exit(Layer.build(Mcp.layerTest(options)))
        assert.strictEqual(errorTag(exit), "InvalidRequest", JSON.stringify(options))
      }
      const badDurations: ReadonlyArray<Partial<Mcp.Options>> = [
        { idleTimeout: Duration.zero },
        { maxLifetime: -5 },
        { sweepInterval: "soon" as Duration.Input },
        { idleTimeout: Duration.infinity }
      ]
      for (const options of badDurations) {
        const exit = yield* Effect.exit(Layer.build(Mcp.layerTest(options)))
        assert.strictEqual(errorTag(exit), "InvalidDuration", JSON.stringify(options))
      }
    }))

  it.effect("layerConfig reads the timeouts from configuration", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        Mcp.layerConfig({ endpoint: { host: "::1", port: 9000, scheme: "https", path: "agents/mcp" } }).pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
            env: { GATEHOUSE_MCP_IDLE_TIMEOUT: "5 minutes", GATEHOUSE_MCP_MAX_LIFETIME: "1 hour" }
          })))
        )
      )
      const registry = Context.get(context, Mcp.McpSessionRegistry)
      const issued = yield* registry.issue(thread("a"))
      assert.strictEqual(issued.endpoint, "https://[::1]:9000/agents/mcp")
      assert.strictEqual(issued.expiresAt, 60 * minute)
      const token = tokenOf(issued)
      yield* TestClock.adjust(Duration.millis(5 * minute - 1))
      assert.isTrue(Option.isSome(yield* registry.resolve(token)))
      yield* TestClock.adjust(Duration.minutes(5))
      assert.isTrue(Option.isNone(yield* registry.resolve(token)))
    }))

  it.effect("layerConfig reads durations in the command line's grammar (10m), and refuses others", () =>
    Effect.gen(function*() {
      const build = (env: Record<string, string>) =>
        Layer.build(
          Mcp.layerConfig({ endpoint: { host: "127.0.0.1", port: 9000 } }).pipe(
            Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
          )
        )
      const context = yield* build({ GATEHOUSE_MCP_IDLE_TIMEOUT: "5m", GATEHOUSE_MCP_MAX_LIFETIME: "1h" })
      const issued = yield* Context.get(context, Mcp.McpSessionRegistry).issue(thread("a"))
      assert.strictEqual(issued.expiresAt, 60 * minute)
      for (const value of ["five minutes", "5", "-5m", "0s"]) {
        const exit = yield* Effect.exit(build({ GATEHOUSE_MCP_IDLE_TIMEOUT: value }))
        assert.isTrue(Exit.isFailure(exit), value)
      }
    }))

  describe("memory stays bounded", () => {
    it.effect(
      "100k issue-then-expire cycles, pruned lazily by issue (no background sweep)",
      () =>
        Effect.gen(function*() {
          const { inspector, registry } = yield* setup({ sweepInterval: Duration.days(365 * 100) })
          let largest = 0
          // 100k credentials, each issued and then left to expire; the clock moves every 5 issues
          // (a TestClock adjustment per credential would make this test slow, not more telling).
          for (let cycle = 0; cycle < 100_000; cycle += 5) {
            for (let i = cycle; i < cycle + 5; i++) yield* registry.issue(thread(`thread-${i}`))
            largest = Math.max(largest, inspector.entries.size)
            yield* TestClock.adjust(Duration.minutes(30))
          }
          // Sweeps on issue start at 1024 entries and at twice what the last sweep left.
          assert.isAtMost(largest, 1024)
          assert.strictEqual(yield* registry.count, 0)
        }),
      { timeout: 30_000 }
    )

    it.effect("100k issue-then-expire cycles under the background sweep alone", () =>
      Effect.gen(function*() {
        const { inspector, registry } = yield* setup({ sweepInterval: Duration.minutes(1) })
        let largest = 0
        for (let batch = 0; batch < 100; batch++) {
          for (let i = 0; i < 1000; i++) yield* registry.issue(thread(`thread-${batch}-${i}`))
          largest = Math.max(largest, inspector.entries.size)
          // Nothing calls issue or resolve while they expire: only the background fiber prunes.
          yield* TestClock.adjust(Duration.minutes(31))
          assert.strictEqual(inspector.entries.size, 0, `batch ${batch}`)
        }
        assert.isAtMost(largest, 2000)
      }), { timeout: 30_000 })

    it.effect("dead credentials presented again are pruned on resolve", () =>
      Effect.gen(function*() {
        const { inspector, registry } = yield* setup({ sweepInterval: Duration.days(365 * 100) })
        const tokens: Array<string> = []
        for (let i = 0; i < 100; i++) tokens.push(tokenOf(yield* registry.issue(thread(`t${i}`))))
        yield* TestClock.adjust(Duration.minutes(30))
        assert.strictEqual(inspector.entries.size, 100)
        for (const token of tokens) assert.isTrue(Option.isNone(yield* registry.resolve(token)))
        assert.strictEqual(inspector.entries.size, 0)
      }))
  })

  describe("hostile input", () => {
    it.effect("property: resolve of any string never throws and never resolves", () =>
      Effect.gen(function*() {
        const { registry } = yield* setup()
        const tokens = [tokenOf(yield* registry.issue(thread("a"))), tokenOf(yield* registry.issue(thread("b")))]
        const base64url = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        const candidates = fc.oneof(
          fc.string(),
          fc.string({ unit: "binary", maxLength: 200 }),
          fc.string({ unit: "grapheme", minLength: 40, maxLength: 46 }),
          fc.string({ unit: base64url, minLength: 43, maxLength: 43 }),
          fc.string({
            unit: fc.constantFrom("\u0000", "\uD800", "\uDFFF", "é", " ", "\n"),
            minLength: 43,
            maxLength: 43
          })
        )
        // Sampled, then run in this test's fiber (under its TestClock) rather than a runtime per case.
        for (const input of fc.sample(candidates, 3000)) {
          if (tokens.includes(input)) continue
          const exit = yield* Effect.exit(Effect.all([registry.resolve(input), registry.resolve(Redacted.make(input))]))
          assert.isTrue(Exit.isSuccess(exit), JSON.stringify(input))
          if (Exit.isSuccess(exit)) assert.isTrue(exit.value.every(Option.isNone), JSON.stringify(input))
        }
        // Sizes an attacker might send, and values a JavaScript caller might pass by mistake.
        for (const input of ["", "x".repeat(43), "x".repeat(10_000_000), tokens[0]!.toUpperCase()]) {
          assert.isTrue(Option.isNone(yield* registry.resolve(input)))
        }
        for (const input of [undefined, null, 42, {}, [], Redacted.make(42), Redacted.make(undefined)]) {
          assert.isTrue(Option.isNone(yield* registry.resolve(input as unknown as string)))
        }
        for (const token of tokens) assert.isTrue(Option.isSome(yield* registry.resolve(token)))
      }))
  })
})
