// `McpSessionRegistry.layerStore` over the SQL store: the time rules with a TestClock (sliding
// expiry, the absolute cap, the idle timeout and the once-a-minute write), and two registries on one
// SQLite file acting as two instances.
import { assert, describe, it } from "@effect/vitest"
import { McpCredentialStore, McpSessionRegistry } from "@gatehouse-auth/core"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as Database from "../src/Database.ts"
import * as SqlMcpCredentialStore from "../src/SqlMcpCredentialStore.ts"
import { tempDatabaseFile } from "./helpers/sqlite.ts"

const endpoint = { host: "127.0.0.1", port: 3773 }

/** A registry over a store on `filename` (its own connection, as another instance would have). */
const instance = (filename: string, options: Partial<McpSessionRegistry.Options> = {}) =>
  Effect.map(
    Layer.build(
      McpSessionRegistry.layerStore({ endpoint, ...options }).pipe(
        Layer.provideMerge(SqlMcpCredentialStore.layer()),
        Layer.provide(Database.layerSqlite({ filename }))
      )
    ),
    (context) => ({
      registry: Context.get(context, McpSessionRegistry.McpSessionRegistry),
      store: Context.get(context, McpCredentialStore.McpCredentialStore)
    })
  )

const tokenOf = (issued: McpSessionRegistry.IssuedMcpCredential) =>
  Redacted.value(issued.authorizationHeader).slice("Bearer ".length)

const alive = (registry: McpSessionRegistry.McpSessionRegistryShape, token: string) =>
  Effect.map(registry.resolve(token), Option.isSome)

describe("McpSessionRegistry over the SQL store (SQLite)", () => {
  it.effect("sliding expiry: used every 20 minutes it outlives maxLifetime, and dies at the absolute cap", () =>
    Effect.gen(function*() {
      const { registry } = yield* instance(yield* tempDatabaseFile, {
        maxLifetime: "2 hours",
        absoluteLifetime: "3 hours"
      })
      const issued = yield* registry.issue({ threadId: "busy", providerInstanceId: "p" })
      assert.strictEqual(issued.expiresAt, 2 * 3600_000)
      const token = tokenOf(issued)
      for (let minute = 20; minute < 180; minute += 20) {
        yield* TestClock.adjust("20 minutes")
        assert.isTrue(yield* alive(registry, token), `at ${minute} minutes`)
      }
      // Past the first deadline (2 h): the uses slid it; the list shows the slid deadline, capped.
      const [listed] = yield* registry.list
      assert.strictEqual(listed!.expiresAt, 3 * 3600_000)
      assert.strictEqual(listed!.lastUsedAt, 160 * 60_000)
      yield* TestClock.adjust("20 minutes") // 3 h: the absolute cap, however busy
      assert.isFalse(yield* alive(registry, token))
    }))

  it.effect("idle timeout: alive at 30 minutes minus 1 ms after the last write, dead at 30 minutes", () =>
    Effect.gen(function*() {
      const { registry } = yield* instance(yield* tempDatabaseFile)
      const used = tokenOf(yield* registry.issue({ threadId: "used", providerInstanceId: "p" }))
      const quiet = tokenOf(yield* registry.issue({ threadId: "quiet", providerInstanceId: "p" }))
      yield* TestClock.adjust(30 * 60_000 - 1)
      assert.isTrue(yield* alive(registry, used))
      yield* TestClock.adjust(1)
      assert.isFalse(yield* alive(registry, quiet))
      // `used` was written at 30 min - 1 ms: it lives 30 more minutes from there.
      yield* TestClock.adjust(30 * 60_000 - 2)
      assert.isTrue(yield* alive(registry, used))
    }))

  it.effect("a use is written at most once a minute; so the idle timeout can end up to a minute early", () =>
    Effect.gen(function*() {
      const { registry, store } = yield* instance(yield* tempDatabaseFile)
      const issued = yield* registry.issue({ threadId: "t", providerInstanceId: "p" })
      const token = tokenOf(issued)
      const stored = () =>
        Effect.map(store.findByHash(McpSessionRegistry.hashToken(token)), (found) => Option.getOrThrow(found))
      yield* TestClock.adjust("59 seconds")
      assert.isTrue(yield* alive(registry, token))
      assert.strictEqual((yield* stored()).lastUsedAt, 0, "no write within the minute")
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* alive(registry, token))
      assert.strictEqual((yield* stored()).lastUsedAt, 60_000, "written once the minute is up")
      yield* TestClock.adjust("59 seconds") // a real use at 1:59, not written
      assert.isTrue(yield* alive(registry, token))
      // Dead 30 minutes after the last write (1:00), 59 s before 30 minutes after the last use.
      yield* TestClock.adjust(30 * 60_000 - 59_000)
      assert.isFalse(yield* alive(registry, token))
    }))

  it.effect("two instances on one file: minted on A resolves on B; revoked on A is refused by B at once", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const a = yield* instance(filename)
      const b = yield* instance(filename)
      const issued = yield* a.registry.issue({ threadId: "t", providerInstanceId: "p" })
      const token = tokenOf(issued)
      assert.isTrue(yield* alive(b.registry, token))
      assert.isTrue(yield* a.registry.revoke(issued.credential.id))
      assert.isFalse(yield* alive(b.registry, token))
      // Re-issuing on B replaces A's credential for the thread everywhere.
      const again = yield* a.registry.issue({ threadId: "t", providerInstanceId: "p" })
      const replaced = yield* b.registry.issue({ threadId: "t", providerInstanceId: "p" })
      assert.isFalse(yield* alive(a.registry, tokenOf(again)))
      assert.isTrue(yield* alive(a.registry, tokenOf(replaced)))
      assert.strictEqual(yield* a.registry.count, 1)
    }))

  it.effect("closing one instance's scope revokes nothing", () =>
    Effect.gen(function*() {
      const filename = yield* tempDatabaseFile
      const b = yield* instance(filename)
      const token = yield* Effect.scoped(Effect.gen(function*() {
        const a = yield* instance(filename)
        return tokenOf(yield* a.registry.issue({ threadId: "t", providerInstanceId: "p" }))
      }))
      assert.isTrue(yield* alive(b.registry, token))
    }))
})
