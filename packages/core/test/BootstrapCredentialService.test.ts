import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Bootstrap from "../src/BootstrapCredentialService.ts"
import * as Crockford from "../src/Crockford.ts"
import * as GrantStore from "../src/GrantStore.ts"
import { sha256Hex } from "../src/Hashing.ts"
import * as Ids from "../src/Ids.ts"
import { sessionsMemory } from "./fixtures/sessions.ts"

/** The service and its store, fresh for each test. */
const services = Effect.suspend(() =>
  Effect.all({
    grants: Effect.service(Bootstrap.BootstrapCredentialService),
    store: Effect.service(GrantStore.GrantStore)
  }).pipe(
    Effect.provide(Bootstrap.layer.pipe(Layer.provideMerge(GrantStore.layerMemory), Layer.provide(sessionsMemory())))
  )
)

const owner = { subject: "owner", scopes: ["read:hello"] }
const code = (text: string) => Redacted.make(text)

describe("BootstrapCredentialService", () => {
  it.effect("issues a 16-character Crockford credential that expires in 5 minutes", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      yield* TestClock.adjust(1000)
      const issued = yield* grants.issue(owner)
      const credential = Redacted.value(issued.credential)
      assert.match(credential, /^[0-9A-HJKMNP-TV-Z]{16}$/)
      assert.match(Crockford.format(credential), /^(?:[0-9A-Z]{4}-){3}[0-9A-Z]{4}$/)
      assert.strictEqual(issued.expiresAt, 1000 + 5 * 60_000)
      assert.match(String(issued.credential), /^<redacted/)
      assert.notInclude(JSON.stringify(issued), credential)
      const consumed = yield* grants.consume(issued.credential)
      assert.strictEqual(consumed.id, issued.id)
      assert.deepStrictEqual(consumed.scopes, ["read:hello"])
      assert.strictEqual(consumed.subject, "owner")
    }))

  it.effect("accepts the code however a person types it", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const issued = yield* grants.seedDesktopCredential(code("0011LLOO-ABCD-EFGH"), { ...owner, uses: 10 })
      for (
        const typed of ["0011-1100-abcd-efgh", "oOiI lLoO ABCD EFGH", " O0Il-l1oO-aBcD-eFgH ", "00111100ABCDEFGH"]
      ) {
        const grant = yield* grants.consume(code(typed))
        assert.strictEqual(grant.id, issued.id, typed)
      }
    }))

  it.effect("stores only a hash of the credential", () =>
    Effect.gen(function*() {
      const { grants, store } = yield* services
      const issued = yield* grants.issue({ ...owner, label: "phone" })
      const credential = Redacted.value(issued.credential)
      const stored = yield* store.listActive(0)
      assert.strictEqual(stored.length, 1)
      const dump = JSON.stringify(stored)
      assert.notInclude(dump, credential)
      assert.notInclude(dump, Crockford.format(credential))
      assert.notInclude(dump.toLowerCase(), credential.toLowerCase())
      assert.strictEqual(stored[0]!.credentialHash, sha256Hex(credential))
      // What callers see carries no hash either.
      assert.notProperty((yield* grants.list)[0], "credentialHash")
    }))

  for (const uses of [1, 3]) {
    it.effect(`1000 concurrent consumes of a grant with uses = ${uses} succeed exactly ${uses} times`, () =>
      Effect.gen(function*() {
        const { grants } = yield* services
        const issued = yield* grants.issue({ ...owner, uses })
        const exits = yield* Effect.forEach(
          Array.from({ length: 1000 }),
          () => Effect.yieldNow.pipe(Effect.andThen(grants.consume(issued.credential)), Effect.exit),
          { concurrency: "unbounded" }
        )
        const successes = exits.filter(Exit.isSuccess)
        assert.strictEqual(successes.length, uses)
        for (const exit of exits.filter(Exit.isFailure)) assert.strictEqual(errorTag(exit), "UnknownCredential")
        assert.deepStrictEqual(yield* grants.list, [])
      }))
  }

  it.effect("expires after its TTL (TestClock): typed error, then the grant is gone", () =>
    Effect.gen(function*() {
      const { grants, store } = yield* services
      const issued = yield* grants.issue({ ...owner, ttl: Duration.minutes(5) })
      yield* TestClock.adjust(Duration.toMillis(Duration.minutes(5)) - 1)
      assert.strictEqual((yield* grants.inspect(issued.credential)).id, issued.id)
      yield* TestClock.adjust(1)
      const error = yield* Effect.flip(grants.consume(issued.credential))
      assert.strictEqual(error._tag, "ExpiredCredential")
      assert.isTrue(Option.isNone(yield* store.findByHash(sha256Hex(Redacted.value(issued.credential)))))
      assert.strictEqual((yield* Effect.flip(grants.consume(issued.credential)))._tag, "UnknownCredential")
    }))

  it.effect("inspect reads without consuming", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const issued = yield* grants.issue(owner)
      for (let i = 0; i < 5; i++) assert.strictEqual((yield* grants.inspect(issued.credential)).usesRemaining, 1)
      yield* grants.consume(issued.credential)
      assert.strictEqual((yield* Effect.flip(grants.inspect(issued.credential)))._tag, "UnknownCredential")
    }))

  it.effect("revoke makes the grant unusable and removes it from the list", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const issued = yield* grants.issue(owner)
      const other = yield* grants.issue(owner)
      assert.isTrue(yield* grants.revoke(issued.id))
      assert.isFalse(yield* grants.revoke(Ids.GrantId.make("no-such-id")))
      assert.strictEqual((yield* Effect.flip(grants.consume(issued.credential)))._tag, "RevokedCredential")
      assert.strictEqual((yield* Effect.flip(grants.inspect(issued.credential)))._tag, "RevokedCredential")
      assert.deepStrictEqual((yield* grants.list).map((grant) => grant.id), [other.id])
    }))

  it.effect("an unknown credential and a used one fail the same way", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const issued = yield* grants.issue(owner)
      yield* grants.consume(issued.credential)
      const used = yield* Effect.flip(grants.consume(issued.credential))
      const unknown = yield* Effect.flip(grants.consume(code(Crockford.generate())))
      const garbage = yield* Effect.flip(grants.consume(code("not a code at all")))
      assert.deepStrictEqual(used, unknown)
      assert.deepStrictEqual(garbage, unknown)
      assert.strictEqual(used.message, unknown.message)
    }))

  it.effect("a proof-key-bound grant needs the same thumbprint; a mismatch uses nothing", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const issued = yield* grants.issue({ ...owner, proofKeyThumbprint: "thumb-A" })
      assert.strictEqual((yield* Effect.flip(grants.consume(issued.credential)))._tag, "ProofKeyMismatch")
      assert.strictEqual(
        (yield* Effect.flip(grants.consume(issued.credential, { proofKeyThumbprint: "thumb-B" })))._tag,
        "ProofKeyMismatch"
      )
      const grant = yield* grants.consume(issued.credential, { proofKeyThumbprint: "thumb-A" })
      assert.strictEqual(grant.id, issued.id)
    }))

  it.effect("the desktop grant's TTL starts when the server listens, not when seeded", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const desktop = code("ABCD-EFGH-JKMN-PQRS-TVWX")
      yield* grants.seedDesktopCredential(desktop, { subject: "desktop", scopes: ["admin"], ttl: Duration.minutes(5) })
      yield* TestClock.adjust(Duration.toMillis(Duration.minutes(30)))
      assert.isUndefined((yield* grants.inspect(desktop)).expiresAt)
      yield* grants.armDesktopGrants
      const armed = yield* grants.inspect(desktop)
      assert.strictEqual(armed.expiresAt, Duration.toMillis(Duration.minutes(35)))
      yield* TestClock.adjust(Duration.toMillis(Duration.minutes(5)) - 1)
      assert.strictEqual((yield* grants.inspect(desktop)).subject, "desktop")
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* Effect.flip(grants.consume(desktop)))._tag, "ExpiredCredential")
    }))

  it.effect("a desktop credential that cannot be a code is refused when seeded", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const error = yield* Effect.flip(grants.seedDesktopCredential(code("too-short"), owner))
      assert.strictEqual(error._tag, "InvalidRequest")
    }))

  it.effect("refuses malformed issue requests", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const bad: Array<Bootstrap.IssueOptions> = [
        { ...owner, scopes: ["READ:hello"] },
        { ...owner, scopes: ["read"] },
        { ...owner, ttl: Duration.zero },
        { ...owner, ttl: Duration.days(31) },
        { ...owner, uses: 0 },
        { ...owner, uses: 1.5 },
        { ...owner, subject: "" },
        { ...owner, label: "x".repeat(129) }
      ]
      for (const options of bad) {
        assert.strictEqual((yield* Effect.flip(grants.issue(options)))._tag, "InvalidRequest", JSON.stringify(options))
      }
      assert.deepStrictEqual(yield* grants.list, [])
    }))

  it.effect("publishes changes: issued, then removed when used up", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      const fiber = yield* grants.changes.pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      yield* Effect.yieldNow
      const issued = yield* grants.issue({ ...owner, uses: 2 })
      yield* grants.consume(issued.credential)
      yield* grants.consume(issued.credential)
      const changes = yield* Fiber.join(fiber)
      assert.deepStrictEqual(changes.map((change) => change._tag), ["Upserted", "Upserted", "Removed"])
      assert.notInclude(JSON.stringify(changes), Redacted.value(issued.credential))
    }))

  it.effect("property: hostile input is always a typed UnknownCredential, never a defect", () =>
    Effect.gen(function*() {
      const { grants } = yield* services
      yield* grants.issue(owner)
      const inputs = fc.sample(
        fc.oneof(fc.string({ unit: "binary", maxLength: 600 }), fc.string({ maxLength: 40 })),
        500
      )
      for (const input of inputs) {
        const exits = yield* Effect.all([
          Effect.exit(grants.consume(code(input))),
          Effect.exit(grants.inspect(code(input)))
        ])
        for (const exit of exits) assert.strictEqual(errorTag(exit), "UnknownCredential", JSON.stringify(input))
      }
    }))
})
