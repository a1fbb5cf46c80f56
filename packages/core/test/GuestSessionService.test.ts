import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { Context, Duration, Effect, Exit, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as GuestPromotion from "../src/GuestPromotion.ts"
import * as Guests from "../src/GuestSessionService.ts"
import * as GuestStore from "../src/GuestStore.ts"
import * as Hashing from "../src/Hashing.ts"
import * as Ids from "../src/Ids.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SignedToken from "../src/SignedToken.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const hour = 3_600_000
const day = 24 * hour

/** Services for one test over `store` (shared when given), with their own secrets unless `secrets` is given. */
const setup = (
  options: {
    readonly store?: GuestStore.GuestStoreShape
    readonly guests?: Guests.Options
    readonly promotion?: GuestPromotion.GuestPromotionShape
  } = {}
) =>
  Effect.gen(function*() {
    const store = options.store ?? (yield* GuestStore.makeMemory())
    const context = yield* Layer.build(
      Layer.mergeAll(Guests.layer(options.guests), Sessions.layerMemory()).pipe(
        Layer.provide(
          options.promotion === undefined
            ? Layer.empty
            : Layer.succeed(GuestPromotion.GuestPromotion, options.promotion)
        ),
        Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
        Layer.provideMerge(Layer.succeed(GuestStore.GuestStore, store)),
        Layer.provideMerge(ServerSecretStore.layerMemory())
      )
    )
    return {
      guests: Context.get(context, Guests.GuestSessionService),
      sessions: Context.get(context, Sessions.SessionCredentialService),
      keyring: Context.get(context, SigningKeyring.SigningKeyring),
      secrets: Context.get(context, ServerSecretStore.ServerSecretStore),
      store
    }
  })

/** A guest from before the cookie: a record with no cookie hash, and a token for it. */
const legacyGuest = (
  env: Effect.Success<ReturnType<typeof setup>>,
  options: { readonly withRecord: boolean } = { withRecord: true }
) =>
  Effect.gen(function*() {
    const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
    const id = Ids.newGuestId()
    if (options.withRecord) {
      yield* env.store.insert({
        id,
        cookieHash: undefined,
        createdAt: now,
        lastSeenAt: now,
        revokedAt: undefined,
        migratedAt: undefined
      })
    }
    const token = yield* SignedToken.sign(env.keyring, { kind: "guest", gid: id, iat: now, exp: now + day })
    return { id, token }
  })

/**
 * The memory store with a yield before every operation, so that concurrent fibers interleave
 * between a read and the write that depends on it, as they do over a real database.
 */
const interleaving = Effect.map(GuestStore.makeMemory(), (store) =>
  GuestStore.GuestStore.of(
    Object.fromEntries(
      Object.entries(store).map(([name, operation]) => [
        name,
        typeof operation === "function"
          ? (...args: ReadonlyArray<unknown>) => Effect.andThen(Effect.yieldNow, (operation as any)(...args))
          : operation
      ])
    ) as unknown as GuestStore.GuestStoreShape
  ))

const person = { subject: "owner", scopes: ["read:hello"], method: "pairing" }

describe("GuestSessionService", () => {
  it.effect("a new guest is found again by its cookie, with a fresh 24-hour guest token each time", () =>
    Effect.gen(function*() {
      const { guests } = yield* setup()
      const created = yield* guests.lookupOrCreate()
      assert.isTrue(created.created)
      assert.match(created.guest.id, /^guest_[A-Za-z0-9_-]{16}$/)
      assert.match(Redacted.value(created.cookie!), /^[A-Za-z0-9_-]{43}$/)
      assert.strictEqual(created.expiresAt, 24 * hour)
      yield* TestClock.adjust("1 hour")
      const found = Option.getOrThrow(yield* guests.lookup(created.cookie))
      assert.strictEqual(found.guest.id, created.guest.id)
      assert.isFalse(found.created)
      assert.strictEqual(found.expiresAt, 25 * hour)
      assert.notStrictEqual(Redacted.value(found.token), Redacted.value(created.token))
      // lookupOrCreate with the cookie finds, never mints a second guest.
      assert.strictEqual((yield* guests.lookupOrCreate(created.cookie)).guest.id, created.guest.id)
      assert.strictEqual((yield* guests.list()).length, 1)
    }))

  it.effect("a guest token expires after 24 hours (TestClock)", () =>
    Effect.gen(function*() {
      const { guests } = yield* setup()
      const { guest, token } = yield* guests.lookupOrCreate()
      yield* TestClock.adjust(Duration.millis(day - 1))
      assert.strictEqual((yield* guests.verify(token)).id, guest.id)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(errorTag(yield* Effect.exit(guests.verify(token))), "ExpiredGuestToken")
    }))

  it.effect("the stored row holds no cookie value, only HMAC-SHA256(pepper, 'guest-session:' + cookie)", () =>
    Effect.gen(function*() {
      const { guests, secrets, store } = yield* setup()
      const { cookie } = yield* guests.lookupOrCreate()
      const value = Redacted.value(cookie!)
      const [record] = yield* store.list(10)
      assert.notInclude(JSON.stringify(record), value)
      const pepper = Option.getOrThrow(yield* secrets.get(Guests.pepperName))
      assert.strictEqual(
        record!.cookieHash,
        Hashing.hmacSha256Base64Url(Redacted.value(pepper), `guest-session:${value}`)
      )
    }))

  it.effect("a service with a different pepper does not find the guest", () =>
    Effect.gen(function*() {
      const store = yield* GuestStore.makeMemory()
      const first = yield* setup({ store })
      const second = yield* setup({ store })
      const { cookie } = yield* first.guests.lookupOrCreate()
      assert.isTrue(Option.isSome(yield* first.guests.lookup(cookie)))
      assert.isTrue(Option.isNone(yield* second.guests.lookup(cookie)))
    }))

  it.effect("guests unused for 30 days are pruned by the sweep; one used meanwhile stays (TestClock)", () =>
    Effect.gen(function*() {
      const { guests, store } = yield* setup()
      const idle = yield* guests.lookupOrCreate()
      const used = yield* guests.lookupOrCreate()
      yield* TestClock.adjust("20 days")
      yield* guests.lookup(used.cookie)
      yield* TestClock.adjust("10 days")
      // The sweep (hourly) has run at day 30: the idle guest is gone, from the store too.
      assert.isTrue(Option.isNone(yield* store.get(idle.guest.id)))
      assert.isTrue(Option.isNone(yield* guests.lookup(idle.cookie)))
      assert.isTrue(Option.isSome(yield* guests.lookup(used.cookie)))
      assert.deepStrictEqual((yield* store.list(10)).map((record) => record.id), [used.guest.id])
    }))

  it.effect("the idle lifetime is configurable, and a guest past it is a miss even before the sweep", () =>
    Effect.gen(function*() {
      const { guests } = yield* setup({ guests: { idleLifetime: "2 hours", sweepInterval: "1 day" } })
      const { cookie } = yield* guests.lookupOrCreate()
      yield* TestClock.adjust(Duration.millis(2 * hour - 1))
      assert.isTrue(Option.isSome(yield* guests.lookup(cookie)))
      yield* TestClock.adjust("2 hours")
      assert.isTrue(Option.isNone(yield* guests.lookup(cookie)))
    }))

  it.effect("a guest token is never a session, and a session token is never a guest", () =>
    Effect.gen(function*() {
      const { guests, sessions } = yield* setup()
      const guest = yield* guests.lookupOrCreate()
      const session = yield* sessions.issue(person)
      const asSession = yield* Effect.flip(sessions.verify(guest.token))
      assert.strictEqual(asSession._tag, "InvalidSessionToken")
      assert.strictEqual((asSession as Sessions.InvalidSessionToken).reason, "WrongKind")
      const asGuest = yield* Effect.flip(guests.verify(session.token))
      assert.deepStrictEqual([asGuest._tag, (asGuest as Guests.InvalidGuestToken).reason], [
        "InvalidGuestToken",
        "WrongKind"
      ])
      // Nor is a session token a legacy guest token.
      assert.isTrue(Option.isNone(yield* guests.lookup(undefined, { legacyToken: session.token })))
    }))

  it.effect("a revoked guest answers GuestRevoked to its cookie, its token and lookupOrCreate", () =>
    Effect.gen(function*() {
      const { guests } = yield* setup()
      const { cookie, guest, token } = yield* guests.lookupOrCreate()
      assert.isTrue(yield* guests.revoke(guest.id))
      assert.isFalse(yield* guests.revoke(guest.id))
      assert.strictEqual(errorTag(yield* Effect.exit(guests.lookup(cookie))), "GuestRevoked")
      assert.strictEqual(errorTag(yield* Effect.exit(guests.lookupOrCreate(cookie))), "GuestRevoked")
      assert.strictEqual(errorTag(yield* Effect.exit(guests.verify(token))), "GuestRevoked")
      assert.strictEqual((yield* guests.list()).length, 1)
    }))

  describe("legacy migration", () => {
    it.effect("a legacy token re-binds its guest to a new cookie once; afterwards it is a miss", () =>
      Effect.gen(function*() {
        const env = yield* setup()
        const legacy = yield* legacyGuest(env)
        const migrated = Option.getOrThrow(yield* env.guests.lookup(undefined, { legacyToken: legacy.token }))
        assert.strictEqual(migrated.guest.id, legacy.id)
        assert.isDefined(migrated.cookie)
        // The new cookie finds the guest; the spent token no longer does (past the race window).
        assert.strictEqual(Option.getOrThrow(yield* env.guests.lookup(migrated.cookie)).guest.id, legacy.id)
        yield* TestClock.adjust("10 seconds")
        assert.isTrue(Option.isNone(yield* env.guests.lookup(undefined, { legacyToken: legacy.token })))
        // lookupOrCreate with the spent token mints a new guest rather than moving the old one.
        const fresh = yield* env.guests.lookupOrCreate(undefined, { legacyToken: legacy.token })
        assert.notStrictEqual(fresh.guest.id, legacy.id)
        assert.isTrue(fresh.created)
      }))

    for (const withRecord of [true, false]) {
      it.effect(
        `100 concurrent requests with one legacy token: one binds, all get the same guest (${
          withRecord ? "legacy record" : "no record"
        })`,
        () =>
          Effect.gen(function*() {
            const env = yield* setup({ store: yield* interleaving })
            const legacy = yield* legacyGuest(env, { withRecord })
            const answers = yield* Effect.all(
              Array.from({ length: 100 }, () => env.guests.lookupOrCreate(undefined, { legacyToken: legacy.token })),
              { concurrency: "unbounded" }
            )
            assert.deepStrictEqual(new Set(answers.map((answer) => answer.guest.id)), new Set([legacy.id]))
            const withCookie = answers.filter((answer) => answer.cookie !== undefined)
            assert.strictEqual(withCookie.length, 1)
            assert.isTrue(answers.every((answer) => !answer.created))
            const records = yield* env.store.list(1000)
            assert.strictEqual(records.length, 1)
            assert.strictEqual(Option.getOrThrow(yield* env.guests.lookup(withCookie[0]!.cookie)).guest.id, legacy.id)
          })
      )
    }

    it.effect("expired, forged and cookie-era tokens are misses that bind nothing", () =>
      Effect.gen(function*() {
        const env = yield* setup()
        const legacy = yield* legacyGuest(env)
        const cookieGuest = yield* env.guests.lookupOrCreate()
        const text = Redacted.value(legacy.token)
        const forged = `${text.slice(0, -2)}${text.endsWith("AA") ? "BA" : "AA"}`
        for (const candidate of [forged, "v1.x.y.z", "", "x".repeat(5000)]) {
          assert.isTrue(Option.isNone(yield* env.guests.lookup(undefined, { legacyToken: Redacted.make(candidate) })))
        }
        // The token every lookup hands to scripts cannot move a cookie guest to another browser.
        assert.isTrue(Option.isNone(yield* env.guests.lookup(undefined, { legacyToken: cookieGuest.token })))
        yield* TestClock.adjust("24 hours")
        assert.isTrue(Option.isNone(yield* env.guests.lookup(undefined, { legacyToken: legacy.token })))
        assert.isUndefined(Option.getOrThrow(yield* env.store.get(legacy.id)).cookieHash)
      }))

    it.effect("a legacy token of a revoked guest answers GuestRevoked", () =>
      Effect.gen(function*() {
        const env = yield* setup()
        const legacy = yield* legacyGuest(env)
        yield* env.guests.revoke(legacy.id)
        const exit = yield* Effect.exit(env.guests.lookup(undefined, { legacyToken: legacy.token }))
        assert.strictEqual(errorTag(exit), "GuestRevoked")
      }))
  })

  describe("promotion", () => {
    it.effect("merges through the application's hook once, then revokes the guest", () =>
      Effect.gen(function*() {
        const merged: Array<string> = []
        const env = yield* setup({
          promotion: { merge: (guestId, session) => Effect.sync(() => merged.push(`${guestId}->${session.subject}`)) }
        })
        const { cookie, guest } = yield* env.guests.lookupOrCreate()
        const { session } = yield* env.sessions.issue(person)
        const results = yield* Effect.all([
          env.guests.promote(guest.id, session),
          env.guests.promote(guest.id, session)
        ], {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(results.filter(Boolean).length, 1)
        assert.deepStrictEqual(merged, [`${guest.id}->owner`])
        assert.strictEqual(errorTag(yield* Effect.exit(env.guests.lookup(cookie))), "GuestRevoked")
        assert.isFalse(yield* env.guests.promote(guest.id, session))
      }))

    it.effect("a failing hook keeps the guest (and its cookie) for a later merge", () =>
      Effect.gen(function*() {
        const env = yield* setup({ promotion: { merge: () => Effect.fail("the drafts table is locked") } })
        const { cookie, guest } = yield* env.guests.lookupOrCreate()
        const { session } = yield* env.sessions.issue(person)
        assert.isFalse(yield* env.guests.promote(guest.id, session))
        assert.strictEqual(Option.getOrThrow(yield* env.guests.lookup(cookie)).guest.id, guest.id)
      }))

    it.effect("without a hook, promotion only ends the guest", () =>
      Effect.gen(function*() {
        const env = yield* setup()
        const { cookie, guest } = yield* env.guests.lookupOrCreate()
        const { session } = yield* env.sessions.issue(person)
        assert.isTrue(yield* env.guests.promote(guest.id, session))
        assert.strictEqual(errorTag(yield* Effect.exit(env.guests.lookup(cookie))), "GuestRevoked")
      }))
  })

  it.effect("hosted mode never generates the pepper: the start fails naming its variable", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(
        Guests.layerMemory().pipe(
          Layer.provide(SigningKeyring.layer()),
          Layer.provide(ServerSecretStore.layerMemory({ hosted: true }))
        )
      ))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "GATEHOUSE_SECRET_")
    }))

  it.effect("hostile cookies and legacy tokens: lookup never fails and never mints (fast-check)", () =>
    Effect.gen(function*() {
      const env = yield* setup()
      const legacy = yield* legacyGuest(env)
      const good = yield* env.guests.lookupOrCreate()
      yield* env.guests.revoke(legacy.id)
      const near = (text: string) =>
        fc.tuple(fc.nat({ max: text.length }), fc.string({ maxLength: 4 })).map(([at, insert]) =>
          text.slice(0, at) + insert + text.slice(at + 1)
        )
      const text = fc.oneof(
        fc.string({ maxLength: 100 }),
        fc.string({ unit: "binary", maxLength: 5000 }),
        near(Redacted.value(good.cookie!)),
        near(Redacted.value(good.token))
      )
      const before = (yield* env.store.list(1000)).length
      // Sampled and run in the test's own fiber, so the clock is the test's (nothing has expired).
      for (const [cookie, legacyToken] of fc.sample(fc.tuple(fc.option(text), fc.option(text)), 300)) {
        const exit = yield* Effect.exit(env.guests.lookup(
          cookie === null ? undefined : Redacted.make(cookie),
          legacyToken === null ? {} : { legacyToken: Redacted.make(legacyToken) }
        ))
        // A hit is only the one real cookie, unchanged; anything else is a miss, never an error.
        assert.isTrue(Exit.isSuccess(exit), `lookup(${JSON.stringify([cookie, legacyToken])}) failed`)
        if (Exit.isSuccess(exit) && Option.isSome(exit.value)) {
          assert.strictEqual(cookie, Redacted.value(good.cookie!))
        }
      }
      assert.isTrue(Option.isSome(yield* env.guests.lookup(good.cookie)))
      assert.strictEqual((yield* env.store.list(1000)).length, before)
    }))
})
