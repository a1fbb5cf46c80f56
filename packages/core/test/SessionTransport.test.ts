/**
 * Sessions record how their token is carried, and each transport has its own lifetimes: a cookie
 * session 7 days idle / 30 days absolute, a bearer session 30 days idle / 90 days absolute (by
 * default; both configurable). Every time rule runs on the TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { ConfigProvider, Context, Duration, Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SessionStore from "../src/SessionStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const day = Duration.toMillis(Duration.days(1))

const build = (
  layer: Layer.Layer<
    Sessions.SessionCredentialService,
    unknown,
    SessionStore.SessionStore | SigningKeyring.SigningKeyring
  >
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      layer.pipe(
        Layer.provideMerge(SessionStore.layerMemory),
        Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
        Layer.provide(ServerSecretStore.layerMemory())
      )
    )
    return {
      sessions: Context.get(context, Sessions.SessionCredentialService),
      store: Context.get(context, SessionStore.SessionStore)
    }
  })

/** Refused as expired, or as unknown once the background sweep has pruned the expired record. */
const refused = (exit: Parameters<typeof errorTag>[0]) =>
  ["ExpiredSessionToken", "InvalidSessionToken"].includes(errorTag(exit)) ? "refused" : errorTag(exit)

const person = { subject: "owner", scopes: ["read:hello"], method: "pairing" }

/** Uses `token` every `every` days until it is refused; the day it was refused (bounded). */
const refusedAfter = (
  sessions: Sessions.SessionCredentialServiceShape,
  token: Parameters<Sessions.SessionCredentialServiceShape["verify"]>[0],
  every: number
) =>
  Effect.gen(function*() {
    for (let days = every; days <= 400; days += every) {
      yield* TestClock.adjust(Duration.days(every))
      const exit = yield* Effect.exit(sessions.verify(token))
      if (exit._tag === "Failure") return { days, tag: refused(exit) }
    }
    return { days: Number.POSITIVE_INFINITY, tag: "none" }
  })

describe("session transport", () => {
  it.effect("recorded as given (cookie by default), in the record, the info and the list", () =>
    Effect.gen(function*() {
      const { sessions, store } = yield* build(Sessions.layer())
      const cookie = yield* sessions.issue(person)
      const bearer = yield* sessions.issue({ ...person, transport: "bearer" })
      assert.strictEqual(cookie.session.transport, "cookie")
      assert.strictEqual(bearer.session.transport, "bearer")
      assert.strictEqual(Option.getOrThrow(yield* store.get(bearer.session.sid)).transport, "bearer")
      assert.strictEqual((yield* sessions.verify(bearer.token)).transport, "bearer")
      const listed = new Map((yield* sessions.list).map((info) => [info.sid, info.transport]))
      assert.deepStrictEqual(listed, new Map([[cookie.session.sid, "cookie"], [bearer.session.sid, "bearer"]]))
    }))

  it.effect("default lifetimes: cookie 7 days idle / 30 absolute, bearer 30 days idle / 90 absolute", () =>
    Effect.gen(function*() {
      const { sessions } = yield* build(Sessions.layer())
      const cookie = yield* sessions.issue(person)
      const bearer = yield* sessions.issue({ ...person, transport: "bearer" })
      assert.strictEqual(cookie.session.expiresAt, 7 * day)
      assert.strictEqual(cookie.session.absoluteExpiresAt, 30 * day)
      assert.strictEqual(bearer.session.expiresAt, 30 * day)
      assert.strictEqual(bearer.session.absoluteExpiresAt, 90 * day)
    }))

  it.effect("a bearer session left unused for 8 days lives on (a cookie one does not); it dies after 30 idle days", () =>
    Effect.gen(function*() {
      const { sessions } = yield* build(Sessions.layer())
      const cookie = yield* sessions.issue(person)
      const bearer = yield* sessions.issue({ ...person, transport: "bearer" })
      yield* TestClock.adjust(Duration.days(8))
      assert.strictEqual(refused(yield* Effect.exit(sessions.verify(cookie.token))), "refused")
      assert.strictEqual((yield* sessions.verify(bearer.token)).sid, bearer.session.sid)
      // Idle from day 8: refused once 30 more days pass, not a day before.
      yield* TestClock.adjust(Duration.days(30).pipe(Duration.subtract(Duration.millis(1))))
      assert.strictEqual((yield* sessions.verify(bearer.token)).sid, bearer.session.sid)
      yield* TestClock.adjust(Duration.days(30))
      assert.strictEqual(refused(yield* Effect.exit(sessions.verify(bearer.token))), "refused")
    }))

  it.effect("used every 10 days, a bearer session ends at its 90-day absolute lifetime", () =>
    Effect.gen(function*() {
      const { sessions } = yield* build(Sessions.layer())
      const bearer = yield* sessions.issue({ ...person, transport: "bearer" })
      assert.deepStrictEqual(yield* refusedAfter(sessions, bearer.token, 10), { days: 90, tag: "refused" })
    }))

  it.effect("used every 5 days, a cookie session ends at 30 days", () =>
    Effect.gen(function*() {
      const { sessions } = yield* build(Sessions.layer())
      const cookie = yield* sessions.issue(person)
      assert.deepStrictEqual(yield* refusedAfter(sessions, cookie.token, 5), { days: 30, tag: "refused" })
    }))

  it.effect("the options set each transport's lifetimes apart", () =>
    Effect.gen(function*() {
      const { sessions } = yield* build(Sessions.layer({
        idleTimeout: "1 day",
        absoluteLifetime: "2 days",
        bearerIdleTimeout: "3 days",
        bearerAbsoluteLifetime: "5 days"
      }))
      const cookie = yield* sessions.issue(person)
      const bearer = yield* sessions.issue({ ...person, transport: "bearer" })
      assert.deepStrictEqual([cookie.session.expiresAt, cookie.session.absoluteExpiresAt], [day, 2 * day])
      assert.deepStrictEqual([bearer.session.expiresAt, bearer.session.absoluteExpiresAt], [3 * day, 5 * day])
      assert.deepStrictEqual(yield* refusedAfter(sessions, bearer.token, 1), { days: 5, tag: "refused" })
    }))

  it.effect("layerConfig reads the lifetimes from the environment; options win over it", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromUnknown({
        GATEHOUSE_SESSION_IDLE_TIMEOUT: "2 days",
        GATEHOUSE_BEARER_SESSION_IDLE_TIMEOUT: "4 days",
        GATEHOUSE_BEARER_SESSION_ABSOLUTE_LIFETIME: "6 days"
      })
      const { sessions } = yield* build(Sessions.layerConfig({ idleTimeout: "1 day" })).pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, provider)
      )
      const cookie = yield* sessions.issue(person)
      const bearer = yield* sessions.issue({ ...person, transport: "bearer" })
      assert.deepStrictEqual([cookie.session.expiresAt, cookie.session.absoluteExpiresAt], [day, 30 * day])
      assert.deepStrictEqual([bearer.session.expiresAt, bearer.session.absoluteExpiresAt], [4 * day, 6 * day])
    }))

  it.effect("a record of an unknown transport (a newer version's) gets the cookie lifetimes", () =>
    Effect.gen(function*() {
      const { sessions, store } = yield* build(Sessions.layer())
      const issued = yield* sessions.issue({ ...person, transport: "bearer" })
      const record = Option.getOrThrow(yield* store.get(issued.session.sid))
      yield* store.insert({ ...record, transport: "carrier-pigeon" as SessionStore.Transport })
      yield* TestClock.adjust(Duration.days(8))
      assert.strictEqual(refused(yield* Effect.exit(sessions.verify(issued.token))), "refused")
    }))
})
