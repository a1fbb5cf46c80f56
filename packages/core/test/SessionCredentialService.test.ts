import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { Context, Duration, Effect, Fiber, Layer, Option, Redacted, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as Ids from "../src/Ids.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SessionStore from "../src/SessionStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const day = Duration.toMillis(Duration.days(1))
const minute = 60_000

/** A memory session store that counts `lastSeenAt` writes. */
const countingStore = Effect.gen(function*() {
  const store = yield* SessionStore.makeMemory
  const touches: Array<{ sid: string; at: number }> = []
  return {
    touches,
    store: SessionStore.SessionStore.of({
      ...store,
      touch: (sid, at) => Effect.andThen(Effect.sync(() => touches.push({ sid, at })), store.touch(sid, at))
    })
  }
})

/** Fresh services for one test, alive until the test's scope closes. */
const setup = (options: Sessions.Options = {}, keyring: SigningKeyring.Options = {}) =>
  Effect.gen(function*() {
    const { store, touches } = yield* countingStore
    const context = yield* Layer.build(
      Sessions.layer(options).pipe(
        Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365), ...keyring })),
        Layer.provideMerge(Layer.succeed(SessionStore.SessionStore, store)),
        Layer.provide(ServerSecretStore.layerMemory())
      )
    )
    return {
      sessions: Context.get(context, Sessions.SessionCredentialService),
      keyring: Context.get(context, SigningKeyring.SigningKeyring),
      store,
      touches
    }
  })

const person = {
  subject: "owner",
  scopes: ["read:hello", "write:access"],
  method: "pairing",
  client: { label: "Ada's phone", deviceType: "mobile", os: "Android", browser: "Chrome", ip: "127.0.0.1" }
}

const token = (text: string) => Redacted.make(text)

describe("SessionCredentialService", () => {
  it.effect("authorization uses what was signed: a stored record widened behind the token's back widens nothing", () =>
    Effect.gen(function*() {
      const { sessions, store } = yield* setup()
      const issued = yield* sessions.issue(person)
      const record = Option.getOrThrow(yield* store.get(issued.session.sid))
      // Someone with write access to the database adds scopes to the live record.
      yield* store.remove(record.sid)
      yield* store.insert({ ...record, scopes: [...record.scopes, "admin", "write:hello"] })
      assert.deepStrictEqual((yield* sessions.verify(issued.token)).scopes, ["read:hello", "write:access"])
      // Narrowing the record narrows the token at once.
      yield* store.remove(record.sid)
      yield* store.insert({ ...record, scopes: ["read:hello"] })
      assert.deepStrictEqual((yield* sessions.verify(issued.token)).scopes, ["read:hello"])
    }))

  it.effect("a WebSocket ticket reaches no further than the scopes it was made with", () =>
    Effect.gen(function*() {
      const { sessions, store } = yield* setup()
      const issued = yield* sessions.issue(person)
      const record = Option.getOrThrow(yield* store.get(issued.session.sid))
      const narrow = yield* sessions.issueWebSocketTicket(record.sid, ["read:hello", "admin"])
      const full = yield* sessions.issueWebSocketTicket(record.sid)
      yield* store.remove(record.sid)
      yield* store.insert({ ...record, scopes: [...record.scopes, "admin"] })
      // Asked-for scopes beyond the session's ("admin") were never in the ticket; a widened record adds nothing.
      assert.deepStrictEqual((yield* sessions.consumeWebSocketTicket(narrow.ticket)).scopes, ["read:hello"])
      assert.deepStrictEqual((yield* sessions.consumeWebSocketTicket(full.ticket)).scopes, [
        "read:hello",
        "write:access"
      ])
    }))

  it.effect("round trip: issue, then verify returns the session with its metadata", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const issued = yield* sessions.issue(person)
      const raw = Redacted.value(issued.token)
      assert.match(raw, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/)
      const verified = yield* sessions.verify(issued.token)
      assert.strictEqual(verified.sid, issued.session.sid)
      assert.strictEqual(verified.subject, "owner")
      assert.deepStrictEqual(verified.scopes, ["read:hello", "write:access"])
      assert.deepStrictEqual(verified.client, person.client)
      assert.strictEqual(verified.expiresAt, 7 * day)
      assert.notInclude(JSON.stringify(issued.session), raw)
    }))

  it.effect("property: every single-character change to a token fails verification", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const raw = Redacted.value((yield* sessions.issue(person)).token)
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u0000é"
      const changes = fc.sample(
        fc.tuple(fc.nat({ max: raw.length - 1 }), fc.constantFrom(...alphabet)).filter(([at, c]) => raw[at] !== c),
        1500
      )
      // Every position at least once, plus the random sample.
      const everyPosition = [...raw].map((c, at) => [at, c === "A" ? "B" : "A"] as const)
      for (const [at, c] of [...everyPosition, ...changes]) {
        const tampered = raw.slice(0, at) + c + raw.slice(at + 1)
        const exit = yield* Effect.exit(sessions.verify(token(tampered)))
        assert.strictEqual(errorTag(exit), "InvalidSessionToken", `position ${at} -> ${JSON.stringify(c)}`)
      }
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(token(raw)))), "success")
    }))

  it.effect("extra, missing or empty segments fail", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const raw = Redacted.value((yield* sessions.issue(person)).token)
      const parts = raw.split(".")
      const variants = [
        `${raw}.`,
        `${raw}.AAAA`,
        `v1.${raw}`,
        parts.slice(0, 3).join("."),
        parts.slice(1).join("."),
        [parts[0], parts[1], "", parts[3]].join("."),
        [parts[0], parts[1], parts[2], parts[2], parts[3]].join("."),
        `v2.${parts.slice(1).join(".")}`,
        "",
        "....",
        raw + "=",
        raw.replace(/\./g, "..")
      ]
      for (const variant of variants) {
        assert.strictEqual(
          errorTag(yield* Effect.exit(sessions.verify(token(variant)))),
          "InvalidSessionToken",
          variant
        )
      }
    }))

  it.effect("a WebSocket ticket is not a session, and a session is not a ticket", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const issued = yield* sessions.issue(person)
      const { ticket } = yield* sessions.issueWebSocketTicket(issued.session.sid)
      const asSession = yield* Effect.flip(sessions.verify(ticket))
      assert.deepStrictEqual([asSession._tag, asSession._tag === "InvalidSessionToken" && asSession.reason], [
        "InvalidSessionToken",
        "WrongKind"
      ])
      const asTicket = yield* Effect.flip(sessions.consumeWebSocketTicket(issued.token))
      assert.deepStrictEqual([asTicket._tag, asTicket._tag === "InvalidSessionToken" && asTicket.reason], [
        "InvalidSessionToken",
        "WrongKind"
      ])
      // Neither attempt used the ticket.
      assert.strictEqual((yield* sessions.consumeWebSocketTicket(ticket)).sid, issued.session.sid)
    }))

  it.effect("idle expiry: unused for 7 days, the session is gone", () =>
    Effect.gen(function*() {
      // No background sweep here, so the expired record is still there for verify to find.
      const { sessions } = yield* setup({ sweepInterval: Duration.days(365) })
      const a = yield* sessions.issue(person)
      const b = yield* sessions.issue(person)
      yield* TestClock.adjust(7 * day - 1)
      assert.strictEqual((yield* sessions.verify(a.token)).sid, a.session.sid)
      yield* TestClock.adjust(1)
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(b.token))), "ExpiredSessionToken")
      // The record is removed: afterwards it is simply unknown.
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(b.token))), "InvalidSessionToken")
      assert.deepStrictEqual((yield* sessions.list).map((s) => s.sid), [a.session.sid])
    }))

  it.effect("liveAmong: which of many ids are live sessions (revoked, unknown and idle-expired ones are not)", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const quiet = yield* sessions.issue(person)
      yield* TestClock.adjust(Duration.days(6))
      const [busy, revoked] = yield* Effect.all([sessions.issue(person), sessions.issue(person)])
      yield* sessions.revoke(revoked.session.sid)
      const ids = [quiet.session.sid, busy.session.sid, revoked.session.sid, Ids.SessionId.make("no-such-session")]
      assert.deepStrictEqual(yield* sessions.liveAmong(ids), new Set([quiet.session.sid, busy.session.sid]))
      yield* TestClock.adjust(Duration.days(1))
      // The quiet one went 7 days unused.
      assert.deepStrictEqual(yield* sessions.liveAmong(ids), new Set([busy.session.sid]))
      assert.deepStrictEqual(yield* sessions.liveAmong([]), new Set())
    }))

  it.effect("use slides the idle window", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const issued = yield* sessions.issue(person)
      for (let i = 1; i <= 3; i++) {
        yield* TestClock.adjust(6 * day)
        const verified = yield* sessions.verify(issued.token)
        assert.strictEqual(verified.expiresAt, i * 6 * day + 7 * day)
      }
      yield* TestClock.adjust(7 * day - 1)
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(issued.token))), "success")
    }))

  it.effect("the background sweep removes expired sessions", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup({ sweepInterval: Duration.hours(1) })
      const issued = yield* sessions.issue(person)
      yield* TestClock.adjust(7 * day)
      assert.isTrue(Option.isNone(yield* sessions.get(issued.session.sid)))
      // Swept, not merely hidden: the next verify finds no record at all.
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(issued.token))), "InvalidSessionToken")
    }))

  it.effect("the 30-day absolute cap holds despite constant use", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const issued = yield* sessions.issue(person)
      for (let t = 0; t < 30 * day - 12 * 60 * minute; t += 12 * 60 * minute) {
        yield* TestClock.adjust(12 * 60 * minute)
        const verified = yield* sessions.verify(issued.token)
        assert.isAtMost(verified.expiresAt, 30 * day)
      }
      yield* TestClock.adjust(12 * 60 * minute)
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(issued.token))), "ExpiredSessionToken")
    }))

  it.effect("lastSeenAt is written at most once a minute per session", () =>
    Effect.gen(function*() {
      const { sessions, touches } = yield* setup()
      const a = yield* sessions.issue(person)
      const b = yield* sessions.issue(person)
      const burst = (t: typeof a, n: number) =>
        Effect.forEach(Array.from({ length: n }), () => sessions.verify(t.token), { concurrency: "unbounded" })
      yield* burst(a, 50)
      assert.strictEqual(touches.length, 0)
      yield* TestClock.adjust(minute - 1)
      yield* burst(a, 50)
      assert.strictEqual(touches.length, 0)
      yield* TestClock.adjust(1)
      yield* Effect.all([burst(a, 100), burst(b, 100)], { concurrency: "unbounded" })
      assert.deepStrictEqual(touches.map((t) => t.sid).sort(), [a.session.sid, b.session.sid].sort())
      yield* TestClock.adjust(minute - 1)
      yield* burst(a, 100)
      assert.strictEqual(touches.length, 2)
      yield* TestClock.adjust(1)
      yield* burst(a, 100)
      assert.strictEqual(touches.length, 3)
      assert.deepStrictEqual(touches[2], { sid: a.session.sid, at: 2 * minute })
      assert.strictEqual((yield* sessions.verify(a.token)).lastSeenAt, 2 * minute)
    }))

  it.effect("revoke, revokeAllExcept and list with client metadata", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const revoked = yield* sessions.changes.pipe(
        Stream.filter((change) => change._tag === "Revoked"),
        Stream.take(3),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.yieldNow
      const a = yield* sessions.issue(person)
      yield* TestClock.adjust(1)
      const b = yield* sessions.issue({ ...person, client: { label: "laptop" } })
      yield* TestClock.adjust(1)
      const c = yield* sessions.issue({ subject: "cli", scopes: [], method: "cli" })
      yield* TestClock.adjust(1)
      const d = yield* sessions.issue({ subject: "x", scopes: [], method: "cli" })
      const listed = yield* sessions.list
      assert.deepStrictEqual(listed.map((s) => s.sid), [a, b, c, d].map((s) => s.session.sid))
      assert.deepStrictEqual(listed[0]!.client, person.client)
      assert.deepStrictEqual(listed[1]!.client, { label: "laptop" })
      assert.isFalse(listed[0]!.connected)
      assert.notInclude(JSON.stringify(listed), Redacted.value(a.token))

      assert.isTrue(yield* sessions.revoke(b.session.sid))
      assert.isFalse(yield* sessions.revoke(b.session.sid))
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(b.token))), "InvalidSessionToken")

      assert.strictEqual(yield* sessions.revokeAllExcept(a.session.sid), 2)
      assert.deepStrictEqual((yield* sessions.list).map((s) => s.sid), [a.session.sid])
      assert.strictEqual((yield* sessions.verify(a.token)).sid, a.session.sid)
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(c.token))), "InvalidSessionToken")
      const changes = yield* Fiber.join(revoked)
      assert.deepStrictEqual(
        changes.map((change) => change._tag === "Revoked" ? change.sid : "").sort(),
        [b, c, d].map((s) => s.session.sid).sort()
      )
    }))

  it.effect("markConnected / markDisconnected show in the list", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const a = yield* sessions.issue(person)
      yield* sessions.markConnected(a.session.sid)
      yield* sessions.markConnected(a.session.sid)
      yield* sessions.markDisconnected(a.session.sid)
      assert.isTrue((yield* sessions.list)[0]!.connected)
      yield* sessions.markDisconnected(a.session.sid)
      assert.isFalse((yield* sessions.list)[0]!.connected)
    }))

  it.effect("a ticket works once, expires after 60 s, and dies with its session", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const a = yield* sessions.issue(person)
      const first = yield* sessions.issueWebSocketTicket(a.session.sid)
      assert.strictEqual(first.expiresAt, 60_000)
      assert.strictEqual((yield* sessions.consumeWebSocketTicket(first.ticket)).sid, a.session.sid)
      const replay = yield* Effect.flip(sessions.consumeWebSocketTicket(first.ticket))
      assert.strictEqual(replay._tag === "InvalidSessionToken" && replay.reason, "Replayed")

      const late = yield* sessions.issueWebSocketTicket(a.session.sid)
      yield* TestClock.adjust(60_000)
      assert.strictEqual(
        errorTag(yield* Effect.exit(sessions.consumeWebSocketTicket(late.ticket))),
        "ExpiredSessionToken"
      )

      const orphan = yield* sessions.issueWebSocketTicket(a.session.sid)
      yield* sessions.revoke(a.session.sid)
      assert.strictEqual(
        errorTag(yield* Effect.exit(sessions.consumeWebSocketTicket(orphan.ticket))),
        "InvalidSessionToken"
      )
      assert.strictEqual(
        errorTag(yield* Effect.exit(sessions.issueWebSocketTicket(a.session.sid))),
        "InvalidSessionToken"
      )
    }))

  it.effect("tokens signed before a key rotation keep verifying", () =>
    Effect.gen(function*() {
      const { keyring, sessions } = yield* setup()
      const before = yield* sessions.issue(person)
      const rotated = yield* keyring.rotate
      const after = yield* sessions.issue(person)
      assert.strictEqual(Redacted.value(after.token).split(".")[1], rotated.kid)
      assert.notStrictEqual(Redacted.value(before.token).split(".")[1], rotated.kid)
      assert.strictEqual((yield* sessions.verify(before.token)).sid, before.session.sid)
      assert.strictEqual((yield* sessions.verify(after.token)).sid, after.session.sid)
    }))

  it.effect("a verified token is re-checked in full a minute later: a withdrawn key stops working", () =>
    Effect.gen(function*() {
      const { keyring, sessions } = yield* setup({}, { retention: Duration.hours(1) })
      const issued = yield* sessions.issue(person)
      yield* keyring.rotate
      yield* TestClock.adjust(Duration.toMillis(Duration.hours(1)) - 30_000)
      // Verified (and remembered) while the retired key still counts.
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(issued.token))), "success")
      yield* TestClock.adjust(40_000)
      // The key is past its retention, but the verification 40 s ago still stands...
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(issued.token))), "success")
      yield* TestClock.adjust(20_000)
      // ...for one minute at most.
      assert.strictEqual(errorTag(yield* Effect.exit(sessions.verify(issued.token))), "InvalidSessionToken")
    }))

  it.effect("refuses malformed issue requests", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      for (
        const input of [{ ...person, subject: "" }, { ...person, scopes: ["nope"] }, {
          ...person,
          method: "Bad Method"
        }]
      ) {
        assert.strictEqual(errorTag(yield* Effect.exit(sessions.issue(input))), "InvalidRequest")
      }
      assert.deepStrictEqual(yield* sessions.list, [])
    }))

  it.effect("property: arbitrary input is a typed error, never a defect or a session", () =>
    Effect.gen(function*() {
      const { sessions } = yield* setup()
      const raw = Redacted.value((yield* sessions.issue(person)).token)
      const [version, kid] = raw.split(".")
      const inputs = fc.sample(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 5000 }),
          fc.array(fc.string({ unit: fc.constantFrom(..."AZaz09-_=."), maxLength: 60 }), { maxLength: 6 }).map((
            parts
          ) => parts.join(".")),
          fc.tuple(fc.string(), fc.string()).map(([claims, sig]) =>
            `${version}.${kid}.${Buffer.from(claims).toString("base64url")}.${Buffer.from(sig).toString("base64url")}`
          )
        ),
        1000
      )
      for (const input of inputs) {
        const tag = errorTag(yield* Effect.exit(sessions.verify(token(input))))
        assert.strictEqual(tag, "InvalidSessionToken", JSON.stringify(input))
        assert.strictEqual(
          errorTag(yield* Effect.exit(sessions.consumeWebSocketTicket(token(input)))),
          "InvalidSessionToken"
        )
      }
    }))
})
