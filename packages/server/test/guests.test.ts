/**
 * Guests in the reference server: kept in the same SQLite file across a restart (revocations too),
 * listed and revoked with `gatehouse guests`, and shared by two instances on one PostgreSQL.
 */
import { assert, describe, it } from "@effect/vitest"
import { cookiePair, tempDirectory } from "@gatehouse-auth/testing/support"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import { exited, gatehouse, pairingUrl, request, serve } from "./helpers.ts"

const guestSession = (origin: string, cookie?: string, mode?: "lookup_only") =>
  request(`${origin}/api/auth/guest-session`, {
    method: "POST",
    body: mode === undefined ? {} : { mode },
    headers: cookie === undefined ? {} : { cookie }
  })

/** A guest made at `origin`: its id and its cookie's value (the name depends on the port). */
const newGuest = (origin: string) =>
  Effect.map(guestSession(origin), (response) => {
    assert.strictEqual(response.status, 200, response.text)
    const line = response.setCookies.find((each) => each.startsWith("gatehouse_guest_"))!
    return { id: response.json.guestId as string, value: cookiePair(line).split("=")[1]! }
  })

const cookieAt = (origin: string, value: string) => `gatehouse_guest_${new URL(origin).port}=${value}`

describe("guests in the reference server (SQLite)", () => {
  it.live(
    "survive a restart, revocations too; gatehouse guests list shows ids and no cookie, revoke ends one",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const first = yield* serve(["--port", "0", "--state-dir", stateDir])
        const { origin } = yield* pairingUrl(first)
        const kept = yield* newGuest(origin)
        const ended = yield* newGuest(origin)

        const listed = yield* gatehouse(["guests", "list", "--state-dir", stateDir])
        assert.strictEqual(listed.code, 0, listed.stderr)
        for (const guest of [kept, ended]) {
          assert.include(listed.stdout, guest.id)
          assert.notInclude(listed.stdout, guest.value)
        }
        const revoked = yield* gatehouse(["guests", "revoke", "--state-dir", stateDir, "--", ended.id])
        assert.strictEqual(revoked.code, 0, revoked.stderr)
        assert.strictEqual((yield* guestSession(origin, cookieAt(origin, ended.value))).status, 403)
        const again = yield* gatehouse(["guests", "revoke", "--state-dir", stateDir, "--", ended.id])
        assert.strictEqual(again.code, 1)
        assert.include(again.stderr, `No live guest ${ended.id}`)
        assert.include((yield* gatehouse(["guests", "list", "--state-dir", stateDir])).stdout, "revoked")
        first.child.kill("SIGTERM")
        assert.strictEqual((yield* exited(first)).code, 0)

        const second = yield* serve(["--port", "0", "--state-dir", stateDir])
        const after = (yield* pairingUrl(second)).origin
        const found = yield* guestSession(after, cookieAt(after, kept.value), "lookup_only")
        assert.strictEqual(found.status, 200, found.text)
        assert.strictEqual(found.json.guestId, kept.id)
        const gone = yield* guestSession(after, cookieAt(after, ended.value), "lookup_only")
        assert.strictEqual(gone.status, 403)
        assert.strictEqual(gone.json.error.code, "guest_revoked")
      }),
    60_000
  )
})

requirePostgresInCi()

describe.skipIf(unavailable !== undefined)("guests on one PostgreSQL", () => {
  it.live(
    "two instances sharing the guest pepper see the same guest, and a revoke on one is seen by the other",
    () =>
      Effect.gen(function*() {
        const url = yield* freshSchemaUrl
        const env = {
          GATEHOUSE_DATABASE_URL: url,
          GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY: Crypto.randomBytes(32).toString("base64url"),
          GATEHOUSE_SECRET_GUEST_SESSION_PEPPER: Crypto.randomBytes(32).toString("base64url")
        }
        const [a, b] = yield* Effect.all([
          serve(["--port", "0", "--state-dir", yield* tempDirectory], { env }),
          serve(["--port", "0", "--state-dir", yield* tempDirectory], { env })
        ])
        const [atA, atB] = yield* Effect.all([pairingUrl(a), pairingUrl(b)], { concurrency: 2 })
        const guest = yield* newGuest(atA.origin)
        const onB = yield* guestSession(atB.origin, cookieAt(atB.origin, guest.value), "lookup_only")
        assert.strictEqual(onB.status, 200, onB.text)
        assert.strictEqual(onB.json.guestId, guest.id)
        const revoke = yield* request(`${atB.origin}/api/auth/guest-session/revoke`, {
          method: "POST",
          body: {},
          headers: { cookie: cookieAt(atB.origin, guest.value) }
        })
        assert.deepStrictEqual(revoke.json, { revoked: true })
        const onA = yield* guestSession(atA.origin, cookieAt(atA.origin, guest.value), "lookup_only")
        assert.strictEqual(onA.status, 403)
      }),
    60_000
  )
})
