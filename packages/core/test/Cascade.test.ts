/**
 * Revocation cascades: revoking a session ends the pairing links and MCP credentials it made, when
 * revoked through this service (at once) and when revoked elsewhere, behind its back (the backstop
 * for links, the liveness check for MCP credentials).
 */
import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { Context, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as Bootstrap from "../src/BootstrapCredentialService.ts"
import { StoreError } from "../src/Errors.ts"
import * as GrantStore from "../src/GrantStore.ts"
import type { SessionId } from "../src/Ids.ts"
import * as McpSessionLink from "../src/McpSessionLink.ts"
import * as Mcp from "../src/McpSessionRegistry.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SessionStore from "../src/SessionStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"
import { sessionsMemory } from "./fixtures/sessions.ts"

/** Everything over one grant store and one session store, alive until the test's scope closes. */
const setupWith = (options: Sessions.Options) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Layer.mergeAll(Bootstrap.layer, McpSessionLink.layer()).pipe(
        Layer.provideMerge(Mcp.layerTest()),
        Layer.provideMerge(GrantStore.layerMemory),
        Layer.provideMerge(sessionsMemory(options))
      )
    )
    return {
      grants: Context.get(context, Bootstrap.BootstrapCredentialService),
      grantStore: Context.get(context, GrantStore.GrantStore),
      sessions: Context.get(context, Sessions.SessionCredentialService),
      sessionStore: Context.get(context, SessionStore.SessionStore),
      registry: Context.get(context, Mcp.McpSessionRegistry)
    }
  })

const setup = setupWith({})

const person = { subject: "owner", scopes: ["read:hello", "write:access"], method: "pairing" }

const session = (sessions: Sessions.SessionCredentialServiceShape) =>
  Effect.map(sessions.issue(person), ({ session }) => session.sid)

const link = (grants: Bootstrap.BootstrapCredentialServiceShape, createdBy: SessionId | undefined, uses = 1) =>
  grants.issue({ subject: "owner", scopes: ["read:hello"], createdBy, uses })

const hashOf = (issued: Bootstrap.IssuedCredential) => Bootstrap.hashCredential(issued.credential)!

const mcpToken = (issued: Mcp.IssuedMcpCredential) => Redacted.value(issued.authorizationHeader).slice(7)

describe("revocation cascades", () => {
  it.effect("revoking a session revokes the unconsumed pairing links it made, and no others", () =>
    Effect.gen(function*() {
      const { grantStore, grants, sessions } = yield* setup
      const a = yield* session(sessions)
      const b = yield* session(sessions)
      const byA = yield* link(grants, a, 3)
      const byB = yield* link(grants, b)
      const byNobody = yield* link(grants, undefined)
      // One use of A's link is taken first: the session that paired through it stays.
      const paired = yield* grants.consume(byA.credential)
      assert.strictEqual(paired.createdBy, a)
      const pairedSession = yield* session(sessions)

      assert.isTrue(yield* sessions.revoke(a))
      // Marked revoked in the store itself, not only hidden by the backstop.
      const stored = Option.getOrThrow(yield* grantStore.findByHash(hashOf(byA)))
      assert.isDefined(stored.revokedAt)
      assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(byA.credential))), "RevokedCredential")
      assert.deepStrictEqual((yield* grants.list).map((g) => g.id).sort(), [byB.id, byNobody.id].sort())
      assert.isTrue(Option.isSome(yield* sessions.get(pairedSession)))
      assert.strictEqual((yield* grants.consume(byB.credential)).id, byB.id)
      assert.strictEqual((yield* grants.consume(byNobody.credential)).id, byNobody.id)
    }))

  it.effect("revokeAllExcept revokes the links of every session it revokes, not the kept one's", () =>
    Effect.gen(function*() {
      const { grants, sessions } = yield* setup
      const keep = yield* session(sessions)
      const a = yield* session(sessions)
      const b = yield* session(sessions)
      const [byKeep, byA, byB] = [yield* link(grants, keep), yield* link(grants, a), yield* link(grants, b)]
      assert.strictEqual(yield* sessions.revokeAllExcept(keep), 2)
      for (const revoked of [byA, byB]) {
        assert.strictEqual(errorTag(yield* Effect.exit(grants.inspect(revoked.credential))), "RevokedCredential")
        assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(revoked.credential))), "RevokedCredential")
      }
      assert.deepStrictEqual((yield* grants.list).map((g) => g.id), [byKeep.id])
      assert.strictEqual((yield* grants.consume(byKeep.credential)).id, byKeep.id)
    }))

  it.effect("backstop: a link whose creator was revoked behind the service's back is refused and unlisted", () =>
    Effect.gen(function*() {
      const { grantStore, grants, sessions, sessionStore } = yield* setup
      const a = yield* session(sessions)
      const listed = yield* link(grants, a, 2)
      const consumed = yield* link(grants, a, 2)
      // Revoked "elsewhere": the CLI or another instance deleted the record; no cascade ran here.
      assert.isTrue(yield* sessionStore.remove(a))
      assert.isUndefined(Option.getOrThrow(yield* grantStore.findByHash(hashOf(listed))).revokedAt)
      assert.deepStrictEqual(yield* grants.list, [])
      assert.isDefined(Option.getOrThrow(yield* grantStore.findByHash(hashOf(listed))).revokedAt)
      assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(listed.credential))), "RevokedCredential")
      assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(consumed.credential))), "RevokedCredential")
      // Refused for good: the grant is marked revoked, so every later use says so too.
      assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(consumed.credential))), "RevokedCredential")
      assert.isDefined(Option.getOrThrow(yield* grantStore.findByHash(hashOf(consumed))).revokedAt)
    }))

  it.effect("backstop: another service instance over the same stores revoking the creator", () =>
    Effect.gen(function*() {
      const { grantStore, grants, sessions, sessionStore } = yield* setup
      const a = yield* session(sessions)
      const issued = yield* link(grants, a)
      // A second process: its own services over the same two stores, without this one's cascade.
      const other = yield* Layer.build(
        Sessions.layer().pipe(
          Layer.provide(Layer.succeed(SessionStore.SessionStore, sessionStore)),
          Layer.provide(SigningKeyring.layer()),
          Layer.provide(ServerSecretStore.layerMemory())
        )
      ).pipe(Effect.map(Context.get(Sessions.SessionCredentialService)))
      assert.isTrue(yield* other.revoke(a))
      assert.isUndefined(Option.getOrThrow(yield* grantStore.findByHash(hashOf(issued))).revokedAt)
      assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(issued.credential))), "RevokedCredential")
    }))

  it.effect("backstop: a link whose creator expired is refused", () =>
    Effect.gen(function*() {
      const { grants, sessions } = yield* setupWith({ idleTimeout: Duration.minutes(10) })
      const a = yield* session(sessions)
      const issued = yield* grants.issue({ subject: "owner", scopes: [], createdBy: a, ttl: Duration.days(1) })
      yield* TestClock.adjust(Duration.minutes(11)) // past the idle timeout; the record is not swept yet
      assert.strictEqual(errorTag(yield* Effect.exit(grants.consume(issued.credential))), "RevokedCredential")
    }))

  it.effect("an MCP credential dies with its session at once on a local revoke", () =>
    Effect.gen(function*() {
      const { registry, sessions } = yield* setup
      const a = yield* session(sessions)
      const b = yield* session(sessions)
      const ofA = yield* registry.issue({ threadId: "t-a", providerInstanceId: "p", sessionId: a })
      const ofB = yield* registry.issue({ threadId: "t-b", providerInstanceId: "p", sessionId: b })
      const ofNobody = yield* registry.issue({ threadId: "t-c", providerInstanceId: "p" })
      assert.isTrue(yield* sessions.revoke(a))
      // No clock moved, no fiber yielded to: gone before the revoke returned.
      assert.isTrue(Option.isNone(yield* registry.resolve(mcpToken(ofA))))
      assert.isTrue(Option.isSome(yield* registry.resolve(mcpToken(ofB))))
      assert.isTrue(Option.isSome(yield* registry.resolve(mcpToken(ofNobody))))
      assert.strictEqual(yield* sessions.revokeAllExcept(a), 1)
      assert.isTrue(Option.isNone(yield* registry.resolve(mcpToken(ofB))))
      assert.isTrue(Option.isSome(yield* registry.resolve(mcpToken(ofNobody))))
    }))

  it.effect("an MCP credential dies within the liveness interval when its session is revoked elsewhere", () =>
    Effect.gen(function*() {
      const { registry, sessions, sessionStore } = yield* setup
      const a = yield* session(sessions)
      const b = yield* session(sessions)
      const ofA = yield* registry.issue({ threadId: "t-a", providerInstanceId: "p", sessionId: a })
      const ofB = yield* registry.issue({ threadId: "t-b", providerInstanceId: "p", sessionId: b })
      assert.isTrue(yield* sessionStore.remove(a))
      assert.isTrue(Option.isSome(yield* registry.resolve(mcpToken(ofA))), "not seen before the check")
      yield* TestClock.adjust(Duration.millis(500))
      assert.isTrue(Option.isNone(yield* registry.resolve(mcpToken(ofA))))
      assert.isTrue(Option.isSome(yield* registry.resolve(mcpToken(ofB))))
      assert.deepStrictEqual(yield* registry.sessionIds, [b])
    }))

  it.effect("a cascade that fails fails the revoke, after every cascade ran", () =>
    Effect.gen(function*() {
      const { registry, sessions } = yield* setup
      const a = yield* session(sessions)
      const ofA = yield* registry.issue({ threadId: "t-a", providerInstanceId: "p", sessionId: a })
      yield* sessions.addRevocationCascade(() =>
        Effect.fail(new StoreError({ store: "grant", operation: "revoke the grants of sessions", cause: "down" }))
      )
      const exit = yield* Effect.exit(sessions.revoke(a))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(errorTag(exit), "StoreError")
      assert.isTrue(Option.isNone(yield* registry.resolve(mcpToken(ofA))))
    }))
})
