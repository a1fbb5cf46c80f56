/**
 * Every in-memory table holds at most its documented number of entries, however many distinct
 * keys arrive: each service is driven directly with 1,000,000 of them and its entries counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { errorTag } from "@gatehouse-auth/testing/support"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as AccessTokens from "../src/AccessTokens.ts"
import * as Guests from "../src/GuestSessionService.ts"
import * as GuestStore from "../src/GuestStore.ts"
import type { GuestId, SessionId } from "../src/Ids.ts"
import * as Mcp from "../src/McpSessionRegistry.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SessionStore from "../src/SessionStore.ts"
import * as SignedToken from "../src/SignedToken.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const million = Number(process.env.CAPS_KEYS ?? 1_000_000)
const minute = 60_000

/** A keyring and a memory store shared by `instances` session services (one per "process"). */
const shared = (instances: number) =>
  Effect.gen(function*() {
    const store = yield* SessionStore.makeMemory
    const context = yield* Layer.build(
      SigningKeyring.layer({ refreshInterval: Duration.days(365) }).pipe(
        Layer.provide(ServerSecretStore.layerMemory())
      )
    )
    const keyring = Context.get(context, SigningKeyring.SigningKeyring)
    const services = yield* Effect.forEach(Array.from({ length: instances }), () =>
      Sessions.make({ touchInterval: Duration.minutes(1) }).pipe(
        Effect.provideService(SessionStore.SessionStore, store),
        Effect.provideService(SigningKeyring.SigningKeyring, keyring)
      ))
    return { store, keyring, services }
  })

const record = (sid: SessionId, now: number): SessionStore.SessionRecord => ({
  sid,
  subject: "owner",
  scopes: ["read:hello"],
  method: "pairing",
  transport: "cookie",
  createdAt: now,
  lastSeenAt: now,
  client: {}
})

describe("memory caps at 1,000,000 distinct keys", () => {
  it.effect(
    "session service: verified-token cache and touch throttle stay within maxCachedTokens",
    () =>
      Effect.gen(function*() {
        const { keyring, services: [sessions], store } = yield* shared(1)
        // Time moves past the touch interval so every verify also writes `lastSeenAt` (and is throttled).
        yield* TestClock.adjust(Duration.minutes(2))
        const now = 2 * minute
        let refused = 0
        let peakTokens = 0
        let peakThrottle = 0
        for (let i = 0; i < million; i++) {
          const sid = `s${i}` as SessionId
          yield* store.insert(record(sid, 0))
          const token = SignedToken.signUnsafe(keyring, {
            kind: "session",
            sid,
            sub: "owner",
            scopes: ["read:hello"],
            method: "pairing",
            iat: now,
            exp: now + Duration.toMillis(Duration.days(1))
          })
          const outcome = yield* Effect.exit(sessions!.verify(token))
          if (outcome._tag === "Failure") refused++
          if (i % 100 !== 0 && i < million - 1) continue
          const entries = sessions!.memoryEntries()
          peakTokens = Math.max(peakTokens, entries.verifiedTokens)
          peakThrottle = Math.max(peakThrottle, entries.touchThrottle)
        }
        assert.strictEqual(refused, 0)
        // Sampled every 100 keys: the cache filled up to its cap (and never past it).
        assert.isAtMost(peakTokens, Sessions.maxCachedTokens)
        assert.isAbove(peakTokens, Sessions.maxCachedTokens - 100)
        assert.isAtMost(peakThrottle, Sessions.maxCachedTokens)
        assert.isAbove(peakThrottle, 0)
      }),
    300_000
  )

  it.effect("a revocation by another instance on the store holds at the next request, cache or not", () =>
    Effect.gen(function*() {
      const { services: [first, second] } = yield* shared(2)
      const issued = yield* first!.issue({ subject: "owner", scopes: ["read:hello"], method: "pairing" })
      // Cached in both instances.
      yield* first!.verify(issued.token)
      yield* second!.verify(issued.token)
      assert.strictEqual(first!.memoryEntries().verifiedTokens, 1)
      yield* second!.revoke(issued.session.sid)
      // No time passes: the bound for a revocation is zero (the record is read on every request).
      assert.strictEqual(errorTag(yield* Effect.exit(first!.verify(issued.token))), "InvalidSessionToken")
    }))

  it.effect("a cached signature counts for reverifyAfter, then the token is checked in full again", () =>
    Effect.gen(function*() {
      const { keyring, services: [sessions], store } = yield* shared(1)
      yield* store.insert(record("cached" as SessionId, 0))
      const token = SignedToken.signUnsafe(keyring, {
        kind: "session",
        sid: "cached" as SessionId,
        sub: "owner",
        scopes: ["read:hello"],
        method: "pairing",
        iat: 0,
        exp: Duration.toMillis(Duration.days(1))
      })
      yield* sessions!.verify(token)
      assert.strictEqual(sessions!.memoryEntries().verifiedTokens, 1)
      // The key is withdrawn behind the cache's back (another process rotated and retired it).
      const withdrawn = { ...keyring, verifyUnsafe: () => false }
      const again = yield* Sessions.make({}).pipe(
        Effect.provideService(SessionStore.SessionStore, store),
        Effect.provideService(SigningKeyring.SigningKeyring, withdrawn)
      )
      assert.strictEqual(errorTag(yield* Effect.exit(again.verify(token))), "InvalidSessionToken")
      // The first instance still trusts its cache until reverifyAfter has passed.
      yield* TestClock.adjust(Duration.toMillis(Sessions.reverifyAfter) - 1)
      yield* sessions!.verify(token)
    }))

  it.effect(
    "memory session store: one-use tickets are capped, live ones never forgotten early",
    () =>
      Effect.gen(function*() {
        const store = yield* SessionStore.makeMemory
        let accepted = 0
        for (let i = 0; i < million; i++) {
          if (yield* store.consumeTicket(`t${i}`, Duration.toMillis(Duration.hours(1)), 0)) accepted++
        }
        assert.strictEqual(accepted, SessionStore.maxMemoryTickets)
        // The first ticket is still remembered: a replay is refused.
        assert.isFalse(yield* store.consumeTicket("t0", Duration.toMillis(Duration.hours(1)), 0))
        // Once they have expired the table makes room again.
        assert.isTrue(
          yield* store.consumeTicket(
            "later",
            Duration.toMillis(Duration.hours(3)),
            Duration.toMillis(Duration.hours(2))
          )
        )
      }),
    300_000
  )

  it.effect("memory guest store: at most maxGuests, the earliest created dropped first", () =>
    Effect.gen(function*() {
      const guests = yield* GuestStore.makeMemory()
      for (let i = 0; i < million; i++) {
        yield* guests.insert({
          id: `g${i}` as GuestId,
          cookieHash: `h${i}`,
          createdAt: i,
          lastSeenAt: i,
          revokedAt: undefined,
          migratedAt: undefined
        })
      }
      assert.strictEqual((yield* guests.list(million)).length, 100_000)
      assert.strictEqual((yield* guests.get("g0" as GuestId))._tag, "None")
      assert.strictEqual((yield* guests.findByCookieHash(`h${million - 1}`))._tag, "Some")
      assert.strictEqual((yield* guests.findByCookieHash("h0"))._tag, "None")
    }), 300_000)
})

describe("memory caps of the token, guest and MCP services", () => {
  it.effect(
    "guest cookie hashes: a million distinct cookies looked up, at most 10 000 remembered",
    () =>
      Effect.gen(function*() {
        const context = yield* Layer.build(
          Guests.layer().pipe(
            Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
            Layer.provideMerge(GuestStore.layerMemory()),
            Layer.provideMerge(ServerSecretStore.layerMemory())
          )
        )
        const guests = Context.get(context, Guests.GuestSessionService)
        let largest = 0
        for (let i = 0; i < million; i++) {
          // Well-formed cookies nobody was given: each is hashed (and remembered), then not found.
          const cookie = Redacted.make(i.toString(36).padStart(43, "A"))
          const found = yield* guests.lookup(cookie)
          assert.strictEqual(found._tag, "None")
          if ((i & 1023) === 0) largest = Math.max(largest, guests.memoryEntries().cookieHashes)
        }
        largest = Math.max(largest, guests.memoryEntries().cookieHashes)
        assert.isAtMost(largest, 10_000)
        assert.isAbove(largest, 9_000)
      }),
    300_000
  )

  it.effect(
    "MCP registry: a million issues for distinct threads, never more live than maxCredentials",
    () =>
      Effect.gen(function*() {
        const cap = 10_000
        const context = yield* Layer.build(Mcp.layerTest({ maxCredentials: cap }))
        const registry = Context.get(context, Mcp.McpSessionRegistry)
        let issued = 0
        let refused = 0
        for (let i = 0; i < million; i++) {
          const outcome = yield* Effect.result(registry.issue({ threadId: `t${i}`, providerInstanceId: "p" }))
          if (outcome._tag === "Success") issued++
          else if (outcome.failure._tag === "TooManyMcpCredentials") refused++
        }
        assert.strictEqual(issued, cap)
        assert.strictEqual(refused, million - cap)
        assert.strictEqual(yield* registry.count, cap)
        // Once they have died (30 minutes unused), the next issue sweeps them and is let in.
        yield* TestClock.adjust(Duration.minutes(31))
        yield* registry.issue({ threadId: "later", providerInstanceId: "p" })
        assert.strictEqual(yield* registry.count, 1)
      }),
    300_000
  )

  // A valid access token costs an Ed25519 signature to make, so this drives the cache with 25 000
  // of them (2.5 times its cap) rather than a million; a forged token is never entered at all.
  it.effect(
    "verified access tokens: 25 000 distinct valid tokens verified, at most 10 000 remembered",
    () =>
      Effect.gen(function*() {
        const context = yield* Layer.build(
          AccessTokens.layer({ issuer: "http://127.0.0.1:3773" }).pipe(
            Layer.provideMerge(Sessions.layer()),
            Layer.provideMerge(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
            Layer.provideMerge(SessionStore.layerMemory),
            Layer.provide(ServerSecretStore.layerMemory())
          )
        )
        const tokens = Context.get(context, AccessTokens.AccessTokens)
        const sessions = Context.get(context, Sessions.SessionCredentialService)
        const { session } = yield* sessions.issue({ subject: "owner", scopes: ["read:hello"], method: "pairing" })
        let largest = 0
        for (let i = 0; i < 25_000; i++) {
          const minted = yield* tokens.mint({ session, scopes: ["read:hello"] })
          assert.strictEqual((yield* tokens.verify(minted.token)).session.sid, session.sid)
          if ((i & 255) === 0) largest = Math.max(largest, tokens.memoryEntries().verifiedTokens)
        }
        largest = Math.max(largest, tokens.memoryEntries().verifiedTokens)
        assert.isAtMost(largest, 10_000)
        assert.isAbove(largest, 9_000)
        assert.strictEqual(tokens.memoryEntries().derivedKeys, 1)
      }),
    300_000
  )
})
