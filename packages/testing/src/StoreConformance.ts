/**
 * The store conformance suite: one behaviour suite for every implementation of the core store
 * interfaces (`GrantStore`, `SessionStore`, `KeyringStore`, `GuestStore`, `McpCredentialStore`). This repository runs it unchanged
 * against the core's memory layers, SQLite and PostgreSQL; run it against a store of your own to
 * check that it behaves as the core relies on (atomic consumes, expiry and revocation, single-use
 * ticket ids, ordering, exact round trips).
 *
 * Call it at the top level of a vitest test file; it registers one `describe` block:
 *
 * ```ts
 * import { StoreConformance } from "@gatehouse-auth/testing"
 * import { Layer } from "effect"
 *
 * // All four stores of a backend, fresh and empty for every test:
 * StoreConformance.run("my backend", () =>
 *   Layer.mergeAll(MyGrantStore.layer, MySessionStore.layer, MyKeyringStore.layer, MyGuestStore.layer))
 * // or a single store:
 * StoreConformance.sessionStore("my session store", () => MySessionStore.layer)
 * ```
 *
 * What the suite asks of the layers:
 * - The factory is called for every test, and the layer it returns is built in that test's scope;
 *   it must give a fresh, empty store each time (a new database file, a new schema, new maps), so
 *   tests never see each other's records. Whatever it opens is released when the test ends.
 * - Every time rule is driven by the explicit `now` arguments of the store interfaces; nothing
 *   here reads a clock, and the times given are far from the present (t = 1 000 ms and so on), so
 *   a store that decides by its own clock instead of `now` fails.
 * - Some tests run 200 operations at once on one store (atomic consume, single-use tickets), and
 *   one inserts about 1 200 sessions.
 * - A layer that fails to build fails the test (as a defect) with its error.
 */
import { assert, describe, it } from "@effect/vitest"
import { GrantStore, GuestStore, Ids, KeyringStore, McpCredentialStore, SessionStore } from "@gatehouse-auth/core"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import * as fc from "fast-check"

/** The four store services; `run` needs a layer of all of them. */
export type Stores =
  | GrantStore.GrantStore
  | SessionStore.SessionStore
  | KeyringStore.KeyringStore
  | GuestStore.GuestStore
  | McpCredentialStore.McpCredentialStore

/** The store interfaces the suite covers, one group of tests each. */
export type Store = "GrantStore" | "SessionStore" | "KeyringStore" | "GuestStore" | "McpCredentialStore"

export interface Options {
  /**
   * Skips the suite, with this reason in its name, e.g. when the backend is not available here.
   * `undefined` runs it.
   */
  readonly skip?: string | undefined
}

const build = (makeStores: () => Layer.Layer<never, unknown>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(makeStores()).pipe(Effect.orDie)
    // Looked up when a test asks for it, so a layer of one store is enough for that store's tests.
    return {
      get grants() {
        return Context.getUnsafe(context, GrantStore.GrantStore)
      },
      get sessions() {
        return Context.getUnsafe(context, SessionStore.SessionStore)
      },
      get keyring() {
        return Context.getUnsafe(context, KeyringStore.KeyringStore)
      },
      get guests() {
        return Context.getUnsafe(context, GuestStore.GuestStore)
      },
      get mcp() {
        return Context.getUnsafe(context, McpCredentialStore.McpCredentialStore)
      }
    }
  })

let counter = 0
const unique = (prefix: string) => `${prefix}${++counter}x${Math.random().toString(36).slice(2, 8)}`

const grant = (overrides: Partial<GrantStore.Grant> = {}): GrantStore.Grant => ({
  id: Ids.GrantId.make(unique("g")),
  credentialHash: unique("h"),
  kind: "pairing",
  subject: "owner",
  scopes: ["read:hello", "write:access"],
  label: "Ada's phone",
  uses: 1,
  usesRemaining: 1,
  createdAt: 1_000,
  ttlMillis: 300_000,
  expiresAt: 301_000,
  revokedAt: undefined,
  proofKeyThumbprint: undefined,
  createdBy: undefined,
  ...overrides
})

const session = (overrides: Partial<SessionStore.SessionRecord> = {}): SessionStore.SessionRecord => ({
  sid: Ids.SessionId.make(unique("s")),
  subject: "owner",
  scopes: ["read:hello"],
  method: "pairing",
  transport: "cookie",
  createdAt: 1_000,
  lastSeenAt: 1_000,
  client: { label: "Ada's phone", deviceType: "mobile", os: "Android", browser: "Chrome", ip: "127.0.0.1" },
  ...overrides
})

const guest = (overrides: Partial<GuestStore.GuestRecord> = {}): GuestStore.GuestRecord => ({
  id: Ids.GuestId.make(unique("guest_")),
  cookieHash: unique("c"),
  createdAt: 1_000,
  lastSeenAt: 1_000,
  revokedAt: undefined,
  migratedAt: undefined,
  ...overrides
})

const signingKey = (kid: string, createdAt: number, retiredAt?: number): KeyringStore.SigningKey => ({
  kid,
  key: Redacted.make(new Uint8Array(32).fill(createdAt % 251)),
  createdAt,
  retiredAt
})

const plainKey = (key: KeyringStore.SigningKey) => ({
  kid: key.kid,
  key: Buffer.from(Redacted.value(key.key)).toString("hex"),
  createdAt: key.createdAt,
  retiredAt: key.retiredAt
})

const tag = (outcome: GrantStore.ConsumeOutcome) => outcome._tag

const mcpCredential = (
  overrides: Partial<McpCredentialStore.McpCredentialRecord> = {}
): McpCredentialStore.McpCredentialRecord => ({
  id: Ids.McpCredentialId.make(unique("mcp_")),
  tokenHash: unique("th"),
  threadId: unique("thread-"),
  providerInstanceId: "provider-1",
  capabilities: ["read:notes"],
  sessionId: Ids.SessionId.make(unique("s")),
  createdAt: 1_000,
  absoluteExpiresAt: 90_000,
  lastUsedAt: 1_000,
  expiresAt: 30_000,
  ...overrides
})

const conformance = (
  name: string,
  covered: ReadonlyArray<Store>,
  makeStores: () => Layer.Layer<never, unknown>,
  options: Options
) => {
  const stores = build(makeStores)
  const suite = options.skip === undefined ? describe : describe.skip
  const group = (store: Store, tests: () => void) => {
    if (covered.includes(store)) describe(store, tests)
  }
  suite(`store conformance: ${name}${options.skip === undefined ? "" : ` (skipped: ${options.skip})`}`, () => {
    group("GrantStore", () => {
      it.effect("insert then findByHash returns the grant exactly; an unknown hash finds nothing", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const full = grant({
            uses: 3,
            usesRemaining: 3,
            proofKeyThumbprint: "thumb-1",
            createdBy: Ids.SessionId.make(unique("s"))
          })
          const bare = grant({ label: undefined, kind: "desktop", expiresAt: undefined, scopes: [] })
          yield* grants.insert(full)
          yield* grants.insert(bare)
          assert.deepStrictEqual(Option.getOrThrow(yield* grants.findByHash(full.credentialHash)), full)
          assert.deepStrictEqual(Option.getOrThrow(yield* grants.findByHash(bare.credentialHash)), bare)
          assert.isTrue(Option.isNone(yield* grants.findByHash("no-such-hash")))
        }))

      it.effect("inserting the same credential again replaces the grant (a re-seeded desktop credential)", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const first = grant({ kind: "desktop", expiresAt: undefined })
          yield* grants.insert(first)
          const second = { ...first, id: Ids.GrantId.make(unique("g")), uses: 5, usesRemaining: 5, createdAt: 2_000 }
          yield* grants.insert(second)
          assert.deepStrictEqual(Option.getOrThrow(yield* grants.findByHash(first.credentialHash)), second)
          assert.isFalse(yield* grants.remove(first.id))
        }))

      it.effect("a grant with uses = 3 is consumed exactly 3 times, then behaves as unknown", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const g = grant({ uses: 3, usesRemaining: 3 })
          yield* grants.insert(g)
          const remaining: Array<number> = []
          for (let i = 0; i < 3; i++) {
            const outcome = yield* grants.consume(g.credentialHash, 2_000, undefined)
            assert.strictEqual(outcome._tag, "Consumed")
            if (outcome._tag === "Consumed") {
              remaining.push(outcome.grant.usesRemaining)
              assert.strictEqual(outcome.grant.id, g.id)
              assert.deepStrictEqual(outcome.grant.scopes, g.scopes)
            }
          }
          assert.deepStrictEqual(remaining, [2, 1, 0])
          assert.deepStrictEqual(yield* grants.consume(g.credentialHash, 2_000, undefined), { _tag: "Unknown" })
          assert.isTrue(Option.isNone(yield* grants.findByHash(g.credentialHash)))
          assert.deepStrictEqual(yield* grants.listActive(2_000), [])
        }))

      it.effect("unknown and used-up give the same outcome", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const g = grant()
          yield* grants.insert(g)
          assert.strictEqual(tag(yield* grants.consume(g.credentialHash, 2_000, undefined)), "Consumed")
          const usedUp = yield* grants.consume(g.credentialHash, 2_000, undefined)
          const unknown = yield* grants.consume("never-issued", 2_000, undefined)
          assert.deepStrictEqual(usedUp, unknown)
          assert.deepStrictEqual(unknown, { _tag: "Unknown" })
        }))

      it.effect("an expired grant: Expired with its id, deleted, then unknown; one millisecond before is fine", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const early = grant({ uses: 2, usesRemaining: 2 })
          yield* grants.insert(early)
          assert.strictEqual(
            tag(yield* grants.consume(early.credentialHash, early.expiresAt! - 1, undefined)),
            "Consumed"
          )
          assert.deepStrictEqual(yield* grants.consume(early.credentialHash, early.expiresAt!, undefined), {
            _tag: "Expired",
            id: early.id
          })
          assert.isTrue(Option.isNone(yield* grants.findByHash(early.credentialHash)))
          assert.deepStrictEqual(yield* grants.consume(early.credentialHash, early.expiresAt!, undefined), {
            _tag: "Unknown"
          })
        }))

      it.effect("a revoked grant says Revoked, is kept, and is not listed; revoke reports whether it existed", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const g = grant({ uses: 2, usesRemaining: 2 })
          yield* grants.insert(g)
          assert.isTrue(yield* grants.revoke(g.id, 5_000))
          assert.isTrue(yield* grants.revoke(g.id, 6_000))
          assert.isFalse(yield* grants.revoke(Ids.GrantId.make("no-such-id"), 5_000))
          assert.deepStrictEqual(yield* grants.consume(g.credentialHash, 7_000, undefined), { _tag: "Revoked" })
          const stored = Option.getOrThrow(yield* grants.findByHash(g.credentialHash))
          assert.strictEqual(stored.revokedAt, 5_000)
          assert.strictEqual(stored.usesRemaining, 2)
          assert.deepStrictEqual(yield* grants.listActive(7_000), [])
          // Still kept after listing (pruning keeps revoked grants until they expire) ...
          assert.isTrue(Option.isSome(yield* grants.findByHash(g.credentialHash)))
          // ... and expiry wins over revocation.
          assert.deepStrictEqual(yield* grants.consume(g.credentialHash, g.expiresAt!, undefined), {
            _tag: "Expired",
            id: g.id
          })
        }))

      it.effect("proof key: missing or wrong is a mismatch that uses nothing; the right one consumes", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const g = grant({ proofKeyThumbprint: "thumb-A" })
          yield* grants.insert(g)
          assert.deepStrictEqual(yield* grants.consume(g.credentialHash, 2_000, undefined), {
            _tag: "ProofKeyMismatch"
          })
          assert.deepStrictEqual(yield* grants.consume(g.credentialHash, 2_000, "thumb-B"), {
            _tag: "ProofKeyMismatch"
          })
          assert.deepStrictEqual(yield* grants.consume(g.credentialHash, 2_000, "thumb-A "), {
            _tag: "ProofKeyMismatch"
          })
          assert.strictEqual(Option.getOrThrow(yield* grants.findByHash(g.credentialHash)).usesRemaining, 1)
          assert.strictEqual(tag(yield* grants.consume(g.credentialHash, 2_000, "thumb-A")), "Consumed")
          // A grant without a proof key ignores one presented.
          const open = grant()
          yield* grants.insert(open)
          assert.strictEqual(tag(yield* grants.consume(open.credentialHash, 2_000, "anything")), "Consumed")
        }))

      it.effect("revokeCreatedBy revokes the unrevoked grants those sessions made, and only those", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const a = Ids.SessionId.make(unique("s"))
          const b = Ids.SessionId.make(unique("s"))
          const c = Ids.SessionId.make(unique("s"))
          const byA = grant({ createdBy: a, uses: 2, usesRemaining: 2 })
          const byAToo = grant({ createdBy: a, createdAt: 1_500 })
          const alreadyRevoked = grant({ createdBy: a })
          const byB = grant({ createdBy: b })
          const byC = grant({ createdBy: c })
          const byNobody = grant()
          for (const g of [byA, byAToo, alreadyRevoked, byB, byC, byNobody]) yield* grants.insert(g)
          yield* grants.revoke(alreadyRevoked.id, 4_000)
          const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()
          assert.deepStrictEqual(
            sorted(yield* grants.revokeCreatedBy([a, b, a, Ids.SessionId.make("no-such-session")], 5_000)),
            sorted([byA.id, byAToo.id, byB.id])
          )
          for (const g of [byA, byAToo, byB]) {
            assert.deepStrictEqual(yield* grants.consume(g.credentialHash, 6_000, undefined), { _tag: "Revoked" })
            assert.strictEqual(Option.getOrThrow(yield* grants.findByHash(g.credentialHash)).revokedAt, 5_000)
          }
          // The earlier revoke keeps its time; the grants of other sessions and of none are untouched.
          assert.strictEqual(
            Option.getOrThrow(yield* grants.findByHash(alreadyRevoked.credentialHash)).revokedAt,
            4_000
          )
          assert.deepStrictEqual(
            sorted((yield* grants.listActive(6_000)).map((g) => g.id)),
            sorted([byC.id, byNobody.id])
          )
          assert.deepStrictEqual(yield* grants.revokeCreatedBy([a, b], 7_000), [])
          assert.deepStrictEqual(yield* grants.revokeCreatedBy([], 7_000), [])
        }))

      it.effect("revokeCreatedBy takes many sessions at once (more than one SQL chunk)", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const sids = Array.from({ length: 1_203 }, () => Ids.SessionId.make(unique("s")))
          const made = grant({ createdBy: sids[1_100]! })
          yield* grants.insert(made)
          assert.deepStrictEqual(yield* grants.revokeCreatedBy(sids, 5_000), [made.id])
        }))

      it.effect("remove deletes once", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const g = grant()
          yield* grants.insert(g)
          assert.isTrue(yield* grants.remove(g.id))
          assert.isFalse(yield* grants.remove(g.id))
          assert.isTrue(Option.isNone(yield* grants.findByHash(g.credentialHash)))
        }))

      it.effect("arm starts the TTL of unarmed grants of one kind, once", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const desktop = grant({ kind: "desktop", expiresAt: undefined, ttlMillis: 60_000 })
          const pairing = grant()
          yield* grants.insert(desktop)
          yield* grants.insert(pairing)
          // Unarmed, it never expires.
          assert.isTrue(Option.isSome(yield* grants.findByHash(desktop.credentialHash)))
          const armed = yield* grants.arm("desktop", 10_000)
          assert.deepStrictEqual(armed, [{ ...desktop, expiresAt: 70_000 }])
          assert.deepStrictEqual(yield* grants.arm("desktop", 20_000), [])
          assert.strictEqual(Option.getOrThrow(yield* grants.findByHash(desktop.credentialHash)).expiresAt, 70_000)
          assert.strictEqual(Option.getOrThrow(yield* grants.findByHash(pairing.credentialHash)).expiresAt, 301_000)
          assert.strictEqual(tag(yield* grants.consume(desktop.credentialHash, 70_000, undefined)), "Expired")
        }))

      it.effect("listActive lists usable grants oldest first and prunes expired and used-up ones", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const later = grant({ createdAt: 3_000, expiresAt: 400_000 })
          const earlier = grant({ createdAt: 2_000, expiresAt: 400_000 })
          const expired = grant({ expiresAt: 50_000 })
          const revoked = grant()
          const unarmed = grant({ kind: "desktop", expiresAt: undefined, createdAt: 2_500 })
          for (const g of [later, earlier, expired, revoked, unarmed]) yield* grants.insert(g)
          yield* grants.revoke(revoked.id, 10_000)
          const active = yield* grants.listActive(60_000)
          assert.deepStrictEqual(active.map((g) => g.id), [earlier.id, unarmed.id, later.id])
          assert.deepStrictEqual(active[0], earlier)
          assert.isTrue(Option.isNone(yield* grants.findByHash(expired.credentialHash)))
          assert.isFalse(yield* grants.remove(expired.id))
        }))

      it.effect("200 concurrent consumes of a grant with uses = 3 succeed exactly 3 times", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const g = grant({ uses: 3, usesRemaining: 3 })
          yield* grants.insert(g)
          const outcomes = yield* Effect.forEach(
            Array.from({ length: 200 }),
            () => grants.consume(g.credentialHash, 2_000, undefined),
            { concurrency: "unbounded" }
          )
          const consumed = outcomes.flatMap((o) => o._tag === "Consumed" ? [o.grant.usesRemaining] : [])
          assert.deepStrictEqual(consumed.sort(), [0, 1, 2])
          assert.strictEqual(outcomes.filter((o) => o._tag === "Unknown").length, 197)
        }))

      it.effect("property: consume decides exactly as the pure GrantStore.decideConsume", () =>
        Effect.gen(function*() {
          const { grants } = yield* stores
          const cases = fc.sample(
            fc.record({
              usesRemaining: fc.integer({ min: 0, max: 2 }),
              expiresAt: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
              revokedAt: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
              stored: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
              presented: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
              now: fc.integer({ min: 0, max: 20 }),
              exists: fc.boolean()
            }),
            60
          )
          for (const c of cases) {
            const g = grant({
              uses: 2,
              usesRemaining: c.usesRemaining,
              createdAt: 0,
              expiresAt: c.expiresAt,
              revokedAt: c.revokedAt,
              proofKeyThumbprint: c.stored
            })
            if (c.exists) yield* grants.insert(g)
            const expected = GrantStore.decideConsume(c.exists ? g : undefined, c.now, c.presented)
            const actual = yield* grants.consume(g.credentialHash, c.now, c.presented)
            assert.deepStrictEqual(actual, expected, JSON.stringify(c))
          }
        }))
    })

    group("SessionStore", () => {
      it.effect("insert then get returns the record with its client metadata; unknown finds nothing", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const full = session()
          const bare = session({ client: {}, scopes: [], method: "cli", transport: "bearer" })
          const partial = session({ client: { label: "Laptop", ip: "::1" } })
          for (const record of [full, bare, partial]) yield* sessions.insert(record)
          for (const record of [full, bare, partial]) {
            assert.deepStrictEqual(Option.getOrThrow(yield* sessions.get(record.sid)), record)
          }
          assert.isTrue(Option.isNone(yield* sessions.get(Ids.SessionId.make("no-such-session"))))
        }))

      it.effect("the transport is kept as given, by get, getMany, list and a re-insert", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const cookie = session({ transport: "cookie" })
          const bearer = session({ transport: "bearer", method: "pairing" })
          for (const record of [cookie, bearer]) yield* sessions.insert(record)
          assert.strictEqual(Option.getOrThrow(yield* sessions.get(cookie.sid)).transport, "cookie")
          assert.strictEqual(Option.getOrThrow(yield* sessions.get(bearer.sid)).transport, "bearer")
          const many = yield* sessions.getMany([cookie.sid, bearer.sid])
          assert.deepStrictEqual(
            new Map(many.map((record) => [record.sid, record.transport])),
            new Map([[cookie.sid, "cookie"], [bearer.sid, "bearer"]])
          )
          const listed = (yield* sessions.list).filter((record) => record.sid === bearer.sid)
          assert.deepStrictEqual(listed, [bearer])
          // An upsert of the same sid carries its transport too.
          yield* sessions.insert({ ...cookie, transport: "bearer" })
          assert.strictEqual(Option.getOrThrow(yield* sessions.get(cookie.sid)).transport, "bearer")
        }))

      it.effect("the DPoP key a session is bound to (jkt) is kept by get, getMany, list and a re-insert", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
          const bound = session({ transport: "bearer", jkt })
          const unbound = session({ transport: "bearer" })
          for (const record of [bound, unbound]) yield* sessions.insert(record)
          assert.deepStrictEqual(Option.getOrThrow(yield* sessions.get(bound.sid)), bound)
          assert.isUndefined(Option.getOrThrow(yield* sessions.get(unbound.sid)).jkt)
          const many = yield* sessions.getMany([bound.sid, unbound.sid])
          assert.deepStrictEqual(
            new Map(many.map((record) => [record.sid, record.jkt])),
            new Map([[bound.sid, jkt], [unbound.sid, undefined]])
          )
          assert.deepStrictEqual((yield* sessions.list).filter((record) => record.sid === bound.sid), [bound])
          yield* sessions.insert({ ...unbound, jkt })
          assert.strictEqual(Option.getOrThrow(yield* sessions.get(unbound.sid)).jkt, jkt)
        }))

      it.effect(
        "getMany returns each existing record once, across chunks; absent ids and no ids give nothing",
        () =>
          Effect.gen(function*() {
            const { sessions } = yield* stores
            // More than one chunk of the SQL store (500 ids per query), with a removed one inside.
            const records = Array.from({ length: 1_203 }, (_, i) => session({ createdAt: i }))
            for (const record of records) yield* sessions.insert(record)
            yield* sessions.remove(records[700]!.sid)
            const asked = [
              ...records.map((record) => record.sid),
              Ids.SessionId.make("no-such-session"),
              records[3]!.sid
            ]
            const found = yield* sessions.getMany(asked)
            const expected = records.filter((_, i) => i !== 700)
            assert.strictEqual(found.length, expected.length, "each existing record once, even when asked twice")
            assert.deepStrictEqual(
              new Set(found.map((record) => record.sid)),
              new Set(expected.map((record) => record.sid))
            )
            assert.deepStrictEqual(found.find((record) => record.sid === records[5]!.sid), records[5])
            assert.deepStrictEqual(yield* sessions.getMany([]), [])
            assert.deepStrictEqual(yield* sessions.getMany([Ids.SessionId.make("no-such-session")]), [])
          }),
        60_000
      )

      it.effect("touch moves lastSeenAt forward only", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const record = session()
          yield* sessions.insert(record)
          yield* sessions.touch(record.sid, 5_000)
          assert.strictEqual(Option.getOrThrow(yield* sessions.get(record.sid)).lastSeenAt, 5_000)
          yield* sessions.touch(record.sid, 4_000)
          assert.strictEqual(Option.getOrThrow(yield* sessions.get(record.sid)).lastSeenAt, 5_000)
          yield* sessions.touch(Ids.SessionId.make("no-such-session"), 9_000)
          assert.isTrue(Option.isNone(yield* sessions.get(Ids.SessionId.make("no-such-session"))))
        }))

      it.effect("remove deletes once; a removed session is gone", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const record = session()
          yield* sessions.insert(record)
          assert.isTrue(Option.isSome(yield* sessions.get(record.sid)))
          assert.isTrue(yield* sessions.remove(record.sid))
          assert.isFalse(yield* sessions.remove(record.sid))
          assert.isTrue(Option.isNone(yield* sessions.get(record.sid)))
        }))

      it.effect("removeAllExcept removes every other session and names them; list shows the rest", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const [keep, a, b] = [session({ createdAt: 1 }), session({ createdAt: 2 }), session({ createdAt: 3 })]
          for (const record of [keep, a, b]) yield* sessions.insert(record)
          const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()
          assert.deepStrictEqual(sorted((yield* sessions.list).map((r) => r.sid)), sorted([keep.sid, a.sid, b.sid]))
          assert.deepStrictEqual(sorted(yield* sessions.removeAllExcept(keep.sid)), sorted([a.sid, b.sid]))
          assert.deepStrictEqual(yield* sessions.list, [keep])
          assert.deepStrictEqual(yield* sessions.removeAllExcept(keep.sid), [])
          assert.isTrue(Option.isNone(yield* sessions.get(a.sid)))
        }))

      it.effect("inserting the same sid again replaces the record", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const record = session()
          yield* sessions.insert(record)
          const replaced = { ...record, scopes: ["admin"], lastSeenAt: 9_000, client: {} }
          yield* sessions.insert(replaced)
          assert.deepStrictEqual(Option.getOrThrow(yield* sessions.get(record.sid)), replaced)
          assert.strictEqual((yield* sessions.list).length, 1)
        }))

      it.effect("a ticket id is accepted once, then refused; ids are independent", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          assert.isTrue(yield* sessions.consumeTicket("jti-1", 61_000, 1_000))
          assert.isFalse(yield* sessions.consumeTicket("jti-1", 61_000, 1_000))
          assert.isFalse(yield* sessions.consumeTicket("jti-1", 61_000, 30_000))
          assert.isTrue(yield* sessions.consumeTicket("jti-2", 61_000, 1_000))
        }))

      it.effect("200 concurrent uses of one ticket id: exactly one is accepted", () =>
        Effect.gen(function*() {
          const { sessions } = yield* stores
          const results = yield* Effect.forEach(
            Array.from({ length: 200 }),
            () => sessions.consumeTicket("jti-race", 61_000, 1_000),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((first) => first).length, 1)
        }))
    })

    group("KeyringStore", () => {
      it.effect("an empty store loads nothing; create stores the keys as given", () =>
        Effect.gen(function*() {
          const { keyring } = yield* stores
          assert.isTrue(Option.isNone(yield* keyring.load))
          const first = signingKey("kid-1", 1_000)
          assert.deepStrictEqual((yield* keyring.create([first])).map(plainKey), [plainKey(first)])
          assert.deepStrictEqual(Option.getOrThrow(yield* keyring.load).map(plainKey), [plainKey(first)])
        }))

      it.effect("create keeps an existing keyring and returns it", () =>
        Effect.gen(function*() {
          const { keyring } = yield* stores
          const first = signingKey("kid-1", 1_000)
          yield* keyring.create([first])
          const returned = yield* keyring.create([signingKey("kid-2", 2_000)])
          assert.deepStrictEqual(returned.map(plainKey), [plainKey(first)])
          assert.deepStrictEqual(Option.getOrThrow(yield* keyring.load).map(plainKey), [plainKey(first)])
        }))

      it.effect("update replaces the keyring with f(current), in order, retirements included", () =>
        Effect.gen(function*() {
          const { keyring } = yield* stores
          const a = signingKey("kid-a", 1_000)
          const b = signingKey("kid-b", 2_000)
          yield* keyring.create([a])
          const seen: Array<ReadonlyArray<string>> = []
          const stored = yield* keyring.update((current) => {
            seen.push(current.map((key) => key.kid))
            return [...current.map((key) => ({ ...key, retiredAt: 2_000 })), b]
          })
          assert.deepStrictEqual(seen, [["kid-a"]])
          const expected = [{ ...plainKey(a), retiredAt: 2_000 }, plainKey(b)]
          assert.deepStrictEqual(stored.map(plainKey), expected)
          assert.deepStrictEqual(Option.getOrThrow(yield* keyring.load).map(plainKey), expected)
          // Dropping keys works too.
          yield* keyring.update((current) => current.slice(1))
          assert.deepStrictEqual(Option.getOrThrow(yield* keyring.load).map(plainKey), [plainKey(b)])
        }))
    })

    group("GuestStore", () => {
      it.effect("insert then get and findByCookieHash return the guest exactly; unknown ones find nothing", () =>
        Effect.gen(function*() {
          const { guests } = yield* stores
          const full = guest({ revokedAt: 5_000, migratedAt: 4_000, lastSeenAt: 6_000 })
          const legacy = guest({ cookieHash: undefined })
          assert.isTrue(yield* guests.insert(full))
          assert.isTrue(yield* guests.insert(legacy))
          assert.deepStrictEqual(Option.getOrThrow(yield* guests.get(full.id)), full)
          assert.deepStrictEqual(Option.getOrThrow(yield* guests.findByCookieHash(full.cookieHash!)), full)
          assert.deepStrictEqual(Option.getOrThrow(yield* guests.get(legacy.id)), legacy)
          assert.isTrue(Option.isNone(yield* guests.get(Ids.GuestId.make("guest_missing"))))
          assert.isTrue(Option.isNone(yield* guests.findByCookieHash("no-such-hash")))
        }))

      it.effect("insert refuses a taken id or a taken cookie hash, and keeps the first record", () =>
        Effect.gen(function*() {
          const { guests } = yield* stores
          const original = guest()
          assert.isTrue(yield* guests.insert(original))
          assert.isFalse(yield* guests.insert(guest({ id: original.id })))
          assert.isFalse(yield* guests.insert(guest({ cookieHash: original.cookieHash })))
          // Guests without a cookie (legacy) do not collide with each other.
          assert.isTrue(yield* guests.insert(guest({ cookieHash: undefined })))
          assert.isTrue(yield* guests.insert(guest({ cookieHash: undefined })))
          assert.deepStrictEqual(Option.getOrThrow(yield* guests.get(original.id)), original)
          assert.strictEqual((yield* guests.list(10)).length, 3)
        }))

      it.effect("200 concurrent inserts of one id: exactly one goes in", () =>
        Effect.gen(function*() {
          const { guests } = yield* stores
          const id = Ids.GuestId.make(unique("guest_"))
          const results = yield* Effect.all(
            Array.from({ length: 200 }, () => guests.insert(guest({ id }))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter(Boolean).length, 1)
        }))

      it.effect("bindCookie binds a guest without a cookie once, under 200 concurrent binds", () =>
        Effect.gen(function*() {
          const { guests } = yield* stores
          const legacy = guest({ cookieHash: undefined })
          yield* guests.insert(legacy)
          const hashes = Array.from({ length: 200 }, (_, i) => `bind-${i}-${unique("h")}`)
          const results = yield* Effect.all(hashes.map((hash) => guests.bindCookie(legacy.id, hash, 7_000)), {
            concurrency: "unbounded"
          })
          assert.strictEqual(results.filter(Boolean).length, 1)
          const winner = hashes[results.indexOf(true)]!
          const bound = Option.getOrThrow(yield* guests.findByCookieHash(winner))
          assert.deepStrictEqual(bound, { ...legacy, cookieHash: winner, migratedAt: 7_000, lastSeenAt: 7_000 })
          // A bound guest, a revoked one and a missing one are never bound.
          assert.isFalse(yield* guests.bindCookie(legacy.id, "another", 8_000))
          const revoked = guest({ cookieHash: undefined, revokedAt: 2_000 })
          yield* guests.insert(revoked)
          assert.isFalse(yield* guests.bindCookie(revoked.id, "yet-another", 8_000))
          assert.isFalse(yield* guests.bindCookie(Ids.GuestId.make("guest_missing"), "x", 8_000))
        }))

      it.effect("touch moves lastSeenAt forward only; revoke answers true once", () =>
        Effect.gen(function*() {
          const { guests } = yield* stores
          const g = guest({ lastSeenAt: 5_000 })
          yield* guests.insert(g)
          yield* guests.touch(g.id, 4_000)
          assert.strictEqual(Option.getOrThrow(yield* guests.get(g.id)).lastSeenAt, 5_000)
          yield* guests.touch(g.id, 9_000)
          assert.strictEqual(Option.getOrThrow(yield* guests.get(g.id)).lastSeenAt, 9_000)
          const revokes = yield* Effect.all(Array.from({ length: 50 }, () => guests.revoke(g.id, 10_000)), {
            concurrency: "unbounded"
          })
          assert.strictEqual(revokes.filter(Boolean).length, 1)
          assert.strictEqual(Option.getOrThrow(yield* guests.findByCookieHash(g.cookieHash!)).revokedAt, 10_000)
        }))

      it.effect("list is newest first and bounded by its limit; prune deletes those last seen at or before", () =>
        Effect.gen(function*() {
          const { guests } = yield* stores
          const old = guest({ createdAt: 1_000, lastSeenAt: 2_000 })
          const middle = guest({ createdAt: 2_000, lastSeenAt: 3_000, revokedAt: 2_500 })
          const recent = guest({ createdAt: 3_000, lastSeenAt: 9_000 })
          for (const g of [middle, old, recent]) yield* guests.insert(g)
          assert.deepStrictEqual((yield* guests.list(10)).map((g) => g.id), [recent.id, middle.id, old.id])
          assert.deepStrictEqual((yield* guests.list(2)).map((g) => g.id), [recent.id, middle.id])
          assert.strictEqual(yield* guests.prune(3_000), 2)
          assert.deepStrictEqual((yield* guests.list(10)).map((g) => g.id), [recent.id])
          assert.isTrue(Option.isNone(yield* guests.findByCookieHash(old.cookieHash!)))
          assert.strictEqual(yield* guests.prune(3_000), 0)
        }))
    })

    group("McpCredentialStore", () => {
      it.effect("insert then findByHash returns the record exactly; an unknown hash finds nothing", () =>
        Effect.gen(function*() {
          const { mcp } = yield* stores
          const full = mcpCredential({ capabilities: ["read:notes", "write:notes"] })
          const bare = mcpCredential({ capabilities: [], sessionId: undefined })
          yield* mcp.insertReplacingThread(full)
          yield* mcp.insertReplacingThread(bare)
          assert.deepStrictEqual(Option.getOrThrow(yield* mcp.findByHash(full.tokenHash)), full)
          assert.deepStrictEqual(Option.getOrThrow(yield* mcp.findByHash(bare.tokenHash)), bare)
          assert.isTrue(Option.isNone(yield* mcp.findByHash("no-such-hash")))
          assert.strictEqual(yield* mcp.count, 2)
        }))

      it.effect("one credential per thread: an insert replaces the thread's earlier one, even 50 at once", () =>
        Effect.gen(function*() {
          const { mcp } = yield* stores
          const first = mcpCredential({ threadId: "thread-shared" })
          const second = mcpCredential({ threadId: "thread-shared", createdAt: 2_000 })
          yield* mcp.insertReplacingThread(first)
          yield* mcp.insertReplacingThread(second)
          assert.isTrue(Option.isNone(yield* mcp.findByHash(first.tokenHash)))
          assert.deepStrictEqual(Option.getOrThrow(yield* mcp.findByHash(second.tokenHash)), second)
          const racers = Array.from({ length: 50 }, () => mcpCredential({ threadId: "thread-race" }))
          yield* Effect.all(racers.map((record) => mcp.insertReplacingThread(record)), { concurrency: "unbounded" })
          const left = (yield* mcp.list).filter((record) => record.threadId === "thread-race")
          assert.strictEqual(left.length, 1)
          assert.isTrue(racers.some((record) => record.id === left[0]!.id))
        }))

      it.effect("touch moves lastUsedAt and expiresAt forward only", () =>
        Effect.gen(function*() {
          const { mcp } = yield* stores
          const record = mcpCredential({ lastUsedAt: 5_000, expiresAt: 20_000 })
          yield* mcp.insertReplacingThread(record)
          yield* mcp.touch(record.tokenHash, 4_000, 10_000)
          const unchanged = Option.getOrThrow(yield* mcp.findByHash(record.tokenHash))
          assert.deepStrictEqual([unchanged.lastUsedAt, unchanged.expiresAt], [5_000, 20_000])
          yield* mcp.touch(record.tokenHash, 9_000, 25_000)
          const moved = Option.getOrThrow(yield* mcp.findByHash(record.tokenHash))
          assert.deepStrictEqual([moved.lastUsedAt, moved.expiresAt], [9_000, 25_000])
          yield* mcp.touch("no-such-hash", 9_000, 25_000)
          assert.strictEqual(yield* mcp.count, 1)
        }))

      it.effect("removeById, removeByThread, removeByProvider, removeBySessions, removeAll count what they remove", () =>
        Effect.gen(function*() {
          const { mcp } = yield* stores
          const sid = Ids.SessionId.make(unique("s"))
          const a = mcpCredential({ sessionId: sid })
          const b = mcpCredential({ sessionId: sid, providerInstanceId: "provider-2" })
          const c = mcpCredential({ providerInstanceId: "provider-2", sessionId: undefined })
          const d = mcpCredential()
          const e = mcpCredential()
          for (const record of [a, b, c, d, e]) yield* mcp.insertReplacingThread(record)
          assert.deepStrictEqual(
            [...(yield* mcp.sessionIds)].sort(),
            [sid, d.sessionId!, e.sessionId!].sort()
          )
          assert.isTrue(yield* mcp.removeById(d.id))
          assert.isFalse(yield* mcp.removeById(d.id))
          assert.strictEqual(yield* mcp.removeBySessions([sid, Ids.SessionId.make("s_missing")]), 2)
          assert.strictEqual(yield* mcp.removeByProvider("provider-2"), 1)
          assert.strictEqual(yield* mcp.removeByThread(e.threadId), 1)
          assert.strictEqual(yield* mcp.removeByThread(e.threadId), 0)
          assert.strictEqual(yield* mcp.count, 0)
          yield* mcp.insertReplacingThread(mcpCredential())
          yield* mcp.insertReplacingThread(mcpCredential())
          assert.strictEqual(yield* mcp.removeAll, 2)
          assert.deepStrictEqual(yield* mcp.sessionIds, [])
        }))

      it.effect("removeDead removes the idle (now - lastUsedAt >= idle) and the expired (now >= expiresAt)", () =>
        Effect.gen(function*() {
          const { mcp } = yield* stores
          const idle = mcpCredential({ lastUsedAt: 1_000, expiresAt: 99_000 })
          const expired = mcpCredential({ lastUsedAt: 9_000, expiresAt: 10_000 })
          const alive = mcpCredential({ lastUsedAt: 9_001, expiresAt: 10_001 })
          for (const record of [idle, expired, alive]) yield* mcp.insertReplacingThread(record)
          // At 10 000 with an idle timeout of 1 000: the first was last used 9 000 ago, the second expires now.
          assert.strictEqual(yield* mcp.removeDead(10_000, 1_000), 2)
          assert.deepStrictEqual((yield* mcp.list).map((record) => record.id), [alive.id])
        }))

      it.effect("list is oldest first", () =>
        Effect.gen(function*() {
          const { mcp } = yield* stores
          const late = mcpCredential({ createdAt: 3_000 })
          const early = mcpCredential({ createdAt: 1_000 })
          const middle = mcpCredential({ createdAt: 2_000 })
          for (const record of [late, early, middle]) yield* mcp.insertReplacingThread(record)
          assert.deepStrictEqual((yield* mcp.list).map((record) => record.id), [early.id, middle.id, late.id])
        }))
    })
  })
}

/**
 * Registers the whole suite, `store conformance: <name>`, with a `GrantStore`, a `SessionStore`,
 * a `KeyringStore` and a `GuestStore` group. `makeStores` is called once per test and must return a layer of
 * fresh, empty stores (it may provide more services; they are ignored).
 */
export const run = (name: string, makeStores: () => Layer.Layer<Stores, unknown>, options: Options = {}): void =>
  conformance(
    name,
    ["GrantStore", "SessionStore", "KeyringStore", "GuestStore", "McpCredentialStore"],
    makeStores,
    options
  )

/** Registers the `McpCredentialStore` tests alone, for a layer of a fresh, empty store per test. */
export const mcpCredentialStore = (
  name: string,
  makeStore: () => Layer.Layer<McpCredentialStore.McpCredentialStore, unknown>,
  options: Options = {}
): void => conformance(name, ["McpCredentialStore"], makeStore, options)

/** Registers the `GuestStore` tests alone, for a layer of a fresh, empty `GuestStore` per test. */
export const guestStore = (
  name: string,
  makeStore: () => Layer.Layer<GuestStore.GuestStore, unknown>,
  options: Options = {}
): void => conformance(name, ["GuestStore"], makeStore, options)

/** Registers the `GrantStore` tests alone, for a layer of a fresh, empty `GrantStore` per test. */
export const grantStore = (
  name: string,
  makeStore: () => Layer.Layer<GrantStore.GrantStore, unknown>,
  options: Options = {}
): void => conformance(name, ["GrantStore"], makeStore, options)

/** Registers the `SessionStore` tests alone, for a layer of a fresh, empty `SessionStore` per test. */
export const sessionStore = (
  name: string,
  makeStore: () => Layer.Layer<SessionStore.SessionStore, unknown>,
  options: Options = {}
): void => conformance(name, ["SessionStore"], makeStore, options)

/** Registers the `KeyringStore` tests alone, for a layer of a fresh, empty `KeyringStore` per test. */
export const keyringStore = (
  name: string,
  makeStore: () => Layer.Layer<KeyringStore.KeyringStore, unknown>,
  options: Options = {}
): void => conformance(name, ["KeyringStore"], makeStore, options)
