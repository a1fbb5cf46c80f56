/**
 * `createGuestClient` against a scripted `fetch` and a fake clock. Each test is written so that the
 * obvious simpler implementation fails it (named in the test's comment).
 */
import { afterEach, assert, beforeEach, describe, it, vi } from "vitest"
import { createGuestClient, defaultLegacyStorageKey, GatehouseClientError, type GuestSession } from "../src/index.ts"
import { advance, base, fakeTime, scripted } from "./scripted.ts"

const now = Date.UTC(2026, 0, 1)
const day = 24 * 60 * 60_000

beforeEach(() => fakeTime(now))
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const guest = (id: string, expiresAt = now + day) => ({ guestId: id, token: `token-${id}`, expiresAt })

/** A storage that records what is done to it; `setItem` is there so that a write would be seen. */
const memoryStorage = (initial: Record<string, string> = {}) => {
  const items = new Map(Object.entries(initial))
  const writes: Array<string> = []
  return {
    items,
    writes,
    getItem: (key: string) => items.get(key) ?? null,
    setItem: (key: string, value: string) => {
      writes.push(key)
      items.set(key, value)
    },
    removeItem: (key: string) => void items.delete(key)
  }
}

const setup = (storage = memoryStorage()) => {
  const server = scripted()
  const client = createGuestClient({ baseUrl: base, fetch: server.fetch, storage })
  return { server, client, storage }
}

describe("getToken and getExisting", () => {
  it("two concurrent getToken() make one request", async () => {
    // Naive: each call fetches.
    const { server, client } = setup()
    const first = client.getToken()
    const second = client.getToken()
    assert.strictEqual(server.calls.length, 1)
    assert.strictEqual(server.call(0).url, `${base}/api/auth/guest-session`)
    assert.deepStrictEqual(server.call(0).body, { mode: "lookup_or_create" })
    assert.strictEqual(server.call(0).init.headers["content-type"], "application/json")
    assert.strictEqual(server.call(0).init.credentials, "include")
    await server.call(0).respond(200, guest("g1"))
    assert.deepStrictEqual(await first, guest("g1"))
    assert.deepStrictEqual(await second, guest("g1"))
    // Kept in memory: a later call makes no request.
    assert.deepStrictEqual(await client.getToken(), guest("g1"))
    assert.strictEqual(server.calls.length, 1)
  })

  it("is fetched again 5 minutes before it expires", async () => {
    // Naive: kept until it has expired (and the request made with it is refused).
    const { server, client } = setup()
    const first = client.getToken()
    await server.call(0).respond(200, guest("g1", now + 10 * 60_000))
    await first
    await advance(4 * 60_000)
    await client.getToken()
    assert.strictEqual(server.calls.length, 1, "9 minutes left: kept")
    await advance(60_000 + 1)
    const refreshed = client.getToken()
    assert.strictEqual(server.calls.length, 2, "less than 5 minutes left: asked again")
    await server.call(1).respond(200, guest("g1", now + day))
    assert.strictEqual((await refreshed).expiresAt, now + day)
  })

  it("getExisting asks lookup_only, never mints, and is undefined on 204", async () => {
    const { server, client } = setup()
    const existing = client.getExisting()
    assert.deepStrictEqual(server.call(0).body, { mode: "lookup_only" })
    await server.call(0).respond(204)
    assert.isUndefined(await existing)
  })

  it("one request per mode: getToken and getExisting each have their own", async () => {
    const { server, client } = setup()
    const a = client.getToken()
    const b = client.getExisting()
    const c = client.getExisting()
    assert.strictEqual(server.calls.length, 2)
    assert.deepStrictEqual(server.calls.map((call) => call.body.mode), ["lookup_or_create", "lookup_only"])
    await server.call(1).respond(200, guest("g1"))
    await server.call(0).respond(200, guest("g1"))
    assert.deepStrictEqual([await a, await b, await c], [guest("g1"), guest("g1"), guest("g1")])
  })

  it("fails with the server's error", async () => {
    const { server, client } = setup()
    const failed = client.getToken().catch((error: unknown) => error)
    await server.call(0).respond(403, {
      error: { code: "guest_revoked", message: "This guest session has been revoked" }
    })
    const error = await failed
    assert.instanceOf(error, GatehouseClientError)
    assert.deepInclude(error, { code: "guest_revoked", status: 403, message: "This guest session has been revoked" })
  })
})

describe("a revoked guest", () => {
  it("is forgotten on 403 guest_revoked: the next call asks again", async () => {
    // Naive: the token cached before stays on offer until it expires.
    const { server, client } = setup()
    const first = client.getToken()
    await server.call(0).respond(200, guest("g1"))
    await first
    await advance(day - 4 * 60_000)
    const refused = client.getToken().catch((error: unknown) => error)
    await server.call(1).respond(403, {
      error: { code: "guest_revoked", message: "This guest session has been revoked" }
    })
    assert.deepInclude(await refused, { code: "guest_revoked" })
    const existing = client.getExisting()
    assert.strictEqual(server.calls.length, 3)
    await server.call(2).respond(204)
    assert.isUndefined(await existing)
  })
})

describe("late answers", () => {
  it("clear() while a request is in flight: its late answer is dropped", async () => {
    // Naive: the answer is stored when it comes, bringing the cleared guest back.
    const { server, client } = setup()
    const before = client.getToken()
    client.clear()
    await server.call(0).respond(200, guest("old"))
    // The caller that asked still gets its answer; the client does not keep it.
    assert.strictEqual((await before).guestId, "old")
    const after = client.getToken()
    assert.strictEqual(server.calls.length, 2, "nothing kept: asked again")
    await server.call(1).respond(200, guest("new"))
    assert.strictEqual((await after).guestId, "new")
  })

  it("forceRefresh() while a request is in flight: the older answer, coming last, does not win", async () => {
    // Naive: whatever answers last is stored (no generation).
    const { server, client } = setup()
    const old = client.getToken()
    const refreshed = client.forceRefresh()
    assert.strictEqual(server.calls.length, 2)
    await server.call(1).respond(200, guest("fresh"))
    await server.call(0).respond(200, guest("stale"))
    await old
    assert.strictEqual((await refreshed).guestId, "fresh")
    assert.strictEqual((await client.getToken()).guestId, "fresh")
    assert.strictEqual(server.calls.length, 2)
  })

  it("a request that settles clears its slot only if the slot still holds it", async () => {
    // Naive: `finally(() => delete slot)` also drops the newer request, and a third caller fetches again.
    const { server, client } = setup()
    const old = client.getToken()
    const refreshed = client.forceRefresh()
    await server.call(0).respond(200, guest("stale"))
    await old
    const joined = client.getToken()
    assert.strictEqual(server.calls.length, 2, "the third caller joins the refresh")
    await server.call(1).respond(200, guest("fresh"))
    assert.strictEqual((await joined).guestId, "fresh")
    assert.strictEqual(await joined, await refreshed)
  })
})

describe("the legacy token", () => {
  const legacy = { [defaultLegacyStorageKey]: "legacy-token" }

  it("is sent as legacyToken and deleted after a 200", async () => {
    // Naive: never sent, or deleted before the server answered.
    const { server, client, storage } = setup(memoryStorage(legacy))
    const got = client.getToken()
    assert.deepStrictEqual(server.call(0).body, { mode: "lookup_or_create", legacyToken: "legacy-token" })
    assert.isTrue(storage.items.has(defaultLegacyStorageKey), "kept while the request is under way")
    await server.call(0).respond(200, guest("g1"))
    await got
    assert.isFalse(storage.items.has(defaultLegacyStorageKey))
    const again = client.forceRefresh()
    assert.deepStrictEqual(server.call(1).body, { mode: "lookup_or_create" }, "sent once")
    await server.call(1).respond(200, guest("g1"))
    await again
  })

  it("is deleted after a 204 to lookup_only", async () => {
    const { server, client, storage } = setup(memoryStorage(legacy))
    const got = client.getExisting()
    assert.strictEqual(server.call(0).body.legacyToken, "legacy-token")
    await server.call(0).respond(204)
    assert.isUndefined(await got)
    assert.isFalse(storage.items.has(defaultLegacyStorageKey))
  })

  it("is kept after a 404, a 5xx and a network error, and sent again", async () => {
    // Naive: deleted once sent, whatever the answer (an old server's 404 loses the guest for ever).
    const { server, client, storage } = setup(memoryStorage(legacy))
    const answers = [
      (call: (typeof server.calls)[number]) =>
        call.respond(404, { error: { code: "not_found", message: "Not found" } }),
      (call: (typeof server.calls)[number]) =>
        call.respond(503, { error: { code: "service_unavailable", message: "busy" } }, { "retry-after": "5" }),
      (call: (typeof server.calls)[number]) => call.fail()
    ]
    for (const [index, answer] of answers.entries()) {
      const failed = client.getToken().catch((error: unknown) => error)
      assert.strictEqual(server.call(index).body.legacyToken, "legacy-token", `attempt ${index}`)
      await answer(server.call(index))
      assert.instanceOf(await failed, GatehouseClientError)
      assert.strictEqual(storage.items.get(defaultLegacyStorageKey), "legacy-token", `after answer ${index}`)
    }
    const finally_ = client.getToken()
    assert.strictEqual(server.call(3).body.legacyToken, "legacy-token")
    await server.call(3).respond(200, guest("g1"))
    await finally_
    assert.isFalse(storage.items.has(defaultLegacyStorageKey))
  })

  it("every concurrent caller sends the same legacy token", async () => {
    // Naive: the first caller takes it out of storage, and the second (another mode) sends none.
    const { server, client, storage } = setup(memoryStorage(legacy))
    const created = client.getToken()
    const looked = client.getExisting()
    assert.deepStrictEqual(server.calls.map((call) => call.body.legacyToken), ["legacy-token", "legacy-token"])
    await server.call(0).respond(200, guest("g1"))
    await server.call(1).respond(200, guest("g1"))
    await Promise.all([created, looked])
    assert.isFalse(storage.items.has(defaultLegacyStorageKey))
  })

  it("is not sent when it is longer than any token (the server would refuse every request)", async () => {
    const { server, client, storage } = setup(memoryStorage({ [defaultLegacyStorageKey]: "x".repeat(5000) }))
    const got = client.getToken()
    assert.deepStrictEqual(server.call(0).body, { mode: "lookup_or_create" })
    await server.call(0).respond(200, guest("g1"))
    await got
    assert.isTrue(storage.items.has(defaultLegacyStorageKey), "left alone: the client only deletes what it sent")
  })

  it("comes from localStorage by default, under the key given", async () => {
    const storage = memoryStorage({ "my-app.guest": "mine" })
    vi.stubGlobal("localStorage", storage)
    const server = scripted()
    const client = createGuestClient({ baseUrl: base, fetch: server.fetch, legacyStorageKey: "my-app.guest" })
    const got = client.getToken()
    assert.strictEqual(server.call(0).body.legacyToken, "mine")
    await server.call(0).respond(200, guest("g1"))
    await got
    assert.strictEqual(storage.items.size, 0)
  })

  it("the token itself is never written to storage", async () => {
    const { server, client, storage } = setup(memoryStorage(legacy))
    const got = client.getToken()
    await server.call(0).respond(200, guest("g1"))
    await got
    const refreshed = client.forceRefresh()
    await server.call(1).respond(200, guest("g2"))
    await refreshed
    assert.deepStrictEqual(storage.writes, [])
    assert.strictEqual(storage.items.size, 0)
  })
})

describe("the rate limit", () => {
  it("after a 429 no guest request reaches the server until Retry-After has passed", async () => {
    // Naive: every call goes to the server and is refused again (and counts against the budget).
    const { server, client } = setup()
    const limited = client.getToken().catch((error: unknown) => error)
    await server.call(0).respond(429, { error: { code: "rate_limited", message: "Too many attempts" } }, {
      "retry-after": "30"
    })
    assert.deepInclude(await limited, { code: "rate_limited", status: 429, retryAfterSeconds: 30 })

    await advance(10_000)
    for (const attempt of [() => client.getToken(), () => client.getExisting(), () => client.forceRefresh()]) {
      const refused = await attempt().catch((error: unknown) => error)
      assert.instanceOf(refused, GatehouseClientError)
      assert.deepInclude(refused, { code: "rate_limited", status: 429, retryAfterSeconds: 20 })
    }
    assert.deepInclude(await client.revoke().catch((error: unknown) => error), { code: "rate_limited" })
    assert.strictEqual(server.calls.length, 1, "the server was not asked")

    await advance(19_000)
    assert.deepInclude(await client.getToken().catch((error: unknown) => error), { retryAfterSeconds: 1 })
    await advance(1_000)
    const allowed = client.getToken()
    assert.strictEqual(server.calls.length, 2)
    await server.call(1).respond(200, guest("g1"))
    assert.strictEqual((await allowed).guestId, "g1")
  })
})

describe("revoke", () => {
  it("posts to /revoke and forgets the token here", async () => {
    const { server, client } = setup()
    const got = client.getToken()
    await server.call(0).respond(200, guest("g1"))
    await got
    const revoked = client.revoke()
    assert.strictEqual(server.call(1).url, `${base}/api/auth/guest-session/revoke`)
    assert.strictEqual(server.call(1).init.method, "POST")
    assert.strictEqual(server.call(1).init.headers["content-type"], "application/json")
    await server.call(1).respond(204)
    await revoked
    void client.getToken()
    assert.strictEqual(server.calls.length, 3, "forgotten: asked again")
  })
})

describe("mergeGuest", () => {
  const existing = async (server: ReturnType<typeof scripted>, index: number) => {
    await server.call(index).respond(200, guest("g1"))
  }

  it("retries a failing merge with backoff, then succeeds; a second call does nothing", async () => {
    // Naive: one attempt, or marked done before the merge succeeded.
    const { server, client } = setup()
    const seen: Array<string> = []
    let failures = 2
    const merge = async (token: string, session: GuestSession) => {
      seen.push(`${token}/${session.guestId}`)
      if (failures-- > 0) throw new Error("merge failed")
    }
    let outcome: unknown
    void client.mergeGuest(merge).then((value) => (outcome = value))
    assert.deepStrictEqual(server.call(0).body, { mode: "lookup_only" }, "getExisting: never mints")
    await existing(server, 0)
    assert.deepStrictEqual(seen, ["token-g1/g1"])
    await advance(999)
    assert.strictEqual(seen.length, 1, "backs off")
    await advance(1)
    assert.strictEqual(seen.length, 2)
    await advance(1999)
    assert.strictEqual(seen.length, 2, "backs off longer")
    await advance(1)
    assert.strictEqual(seen.length, 3)
    assert.strictEqual(outcome, true)

    assert.strictEqual(await client.mergeGuest(merge), true)
    assert.strictEqual(seen.length, 3, "not merged again")
    assert.strictEqual(server.calls.length, 1, "the cached guest was used, and nothing asked after")
  })

  it("stops after 3 attempts, rejects with the last error, and is not marked done", async () => {
    const { server, client } = setup()
    let calls = 0
    const merge = async () => {
      calls++
      throw new Error(`merge failed ${calls}`)
    }
    const failed = client.mergeGuest(merge).catch((error: unknown) => error)
    await existing(server, 0)
    await advance(60_000)
    assert.strictEqual(calls, 3)
    assert.strictEqual((await failed as Error).message, "merge failed 3")

    // Not done: a later call tries again.
    const ok = client.mergeGuest(async () => {
      calls++
    })
    await advance(0)
    assert.strictEqual(await ok, true)
    assert.strictEqual(calls, 4)
  })

  it("honours attempts, and resolves false when there is no guest (without calling merge)", async () => {
    const { server, client } = setup()
    let calls = 0
    const none = client.mergeGuest(async () => void calls++)
    await server.call(0).respond(204)
    assert.strictEqual(await none, false)
    assert.strictEqual(calls, 0)

    const once = client.mergeGuest(async () => {
      calls++
      throw new Error("no")
    }, { attempts: 1 }).catch((error: unknown) => error)
    await existing(server, 1)
    assert.strictEqual((await once as Error).message, "no")
    assert.strictEqual(calls, 1)
  })
})
