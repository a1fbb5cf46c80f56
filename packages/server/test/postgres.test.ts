/**
 * Several `gatehouse serve` instances on one PostgreSQL behave as one, and a database outage is a
 * 503, never an authenticated request nor a lost revocation. Needs `GATEHOUSE_TEST_DATABASE_URL`
 * (`.ci/run` starts a PostgreSQL); skipped locally without one, a failure in CI.
 */
import { assert, describe, it } from "@effect/vitest"
import { bearer, tempDirectory } from "@gatehouse-auth/testing/support"
import {
  freshSchemaBehindProxy,
  freshSchemaUrl,
  requirePostgresInCi,
  unavailable
} from "@gatehouse-auth/testing/support/postgres"
import { Effect, Layer, Redacted } from "effect"
import * as Crypto from "node:crypto"
import { GatehouseServer } from "../src/index.ts"
import { bearerBootstrap, gatehouse, keyIdOf, openSocket, pairingUrl, pairWith, request, serve } from "./helpers.ts"

/** A session through a pairing link made at `origin` by `admin`. */
const newSession = (origin: string, admin: string) =>
  Effect.gen(function*() {
    const link = yield* request(`${origin}/api/auth/pairing-links`, {
      method: "POST",
      headers: bearer(admin),
      body: { label: "device" }
    })
    assert.strictEqual(link.status, 201, link.text)
    return yield* pairWith(origin, link.json.credential)
  })

const hello = (origin: string, token: string) =>
  Effect.map(request(`${origin}/api/hello`, { headers: bearer(token) }), (response) => response.status)

describe.skipIf(unavailable !== undefined)("two gatehouse serve processes on one PostgreSQL", () => {
  it.live(
    "accept each other's sessions; a revoke on A is refused by B within a second and closes B's socket; rotation reaches both",
    () =>
      Effect.gen(function*() {
        const url = yield* freshSchemaUrl
        // Instances on one database share the key that wraps the signing keys stored in it.
        const env = { GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY: Crypto.randomBytes(32).toString("base64url") }
        const [a, b] = yield* Effect.all([
          serve([
            "--port",
            "0",
            "--state-dir",
            yield* tempDirectory,
            "--database-url",
            url,
            "--key-refresh-interval",
            "200 millis"
          ], { env }),
          // B reads the URL from the environment, and refreshes its keyring only every second.
          serve(["--port", "0", "--state-dir", yield* tempDirectory, "--key-refresh-interval", "1 second"], {
            env: { ...env, GATEHOUSE_DATABASE_URL: url }
          })
        ])
        const [atA, atB] = yield* Effect.all([pairingUrl(a), pairingUrl(b)], { concurrency: 2 })
        const admin = yield* pairWith(atA.origin, atA.token)
        const device = yield* pairWith(atB.origin, atB.token)

        // A session issued by one instance is accepted by the other.
        assert.strictEqual(yield* hello(atB.origin, admin.token), 200)
        assert.strictEqual(yield* hello(atA.origin, device.token), 200)
        assert.strictEqual(keyIdOf(admin.token), keyIdOf(device.token), "one keyring")
        // A pairing link made on A pairs on B.
        const link = yield* request(`${atA.origin}/api/auth/pairing-links`, {
          method: "POST",
          headers: bearer(admin.token),
          body: { label: "x" }
        })
        const linked = yield* pairWith(atB.origin, link.json.credential)
        assert.strictEqual((yield* bearerBootstrap(atA.origin, link.json.credential)).status, 401, "used up on both")

        // Revoked on A: B refuses it at once and closes its socket with 4401 within a second.
        const socket = yield* openSocket(atB.origin, device.token)
        const revoke = yield* request(`${atA.origin}/api/auth/sessions/${device.id}`, {
          method: "DELETE",
          headers: bearer(admin.token)
        })
        assert.strictEqual(revoke.status, 200, revoke.text)
        const revokedAt = Date.now()
        assert.strictEqual(yield* hello(atB.origin, device.token), 401)
        const code = yield* Effect.promise(() => socket.closed).pipe(Effect.timeout("1 second"))
        assert.strictEqual(code, 4401)
        assert.isBelow(Date.now() - revokedAt, 1000)
        assert.strictEqual(yield* hello(atB.origin, linked.token), 200, "only that session")

        // Rotation (from the CLI, on the same database): old tokens stay valid everywhere; A signs
        // with the new key after its refresh, B accepts those at once and signs with it after its own.
        const rotated = yield* gatehouse(["keys", "rotate", "--database-url", url], { env })
        assert.strictEqual(rotated.code, 0, rotated.stderr)
        const kid = /New signing key ([A-Za-z0-9_-]+)\./.exec(rotated.stdout)![1]!
        const signedWithNewKey = (origin: string) =>
          Effect.gen(function*() {
            for (let attempt = 0; attempt < 40; attempt++) {
              const session = yield* newSession(origin, admin.token)
              if (keyIdOf(session.token) === kid) return session
              yield* Effect.sleep("100 millis")
            }
            return yield* Effect.die(new Error(`${origin} never signed with ${kid}`))
          })
        const fromA = yield* signedWithNewKey(atA.origin)
        assert.strictEqual(yield* hello(atB.origin, fromA.token), 200)
        const fromB = yield* signedWithNewKey(atB.origin)
        assert.strictEqual(yield* hello(atA.origin, fromB.token), 200)
        for (const origin of [atA.origin, atB.origin]) {
          assert.strictEqual(yield* hello(origin, admin.token), 200, "a token from before the rotation")
        }
      }),
    90_000
  )

  it.live(
    "an outage: requests get 503 in the error shape, never authenticated; a revoke that failed is not lost",
    () =>
      Effect.gen(function*() {
        const { proxy, url } = yield* freshSchemaBehindProxy
        const context = yield* Layer.build(GatehouseServer.layer({
          host: "127.0.0.1",
          port: 0,
          stateDir: yield* tempDirectory,
          databaseUrl: Redacted.make(url)
        }))
        const server = GatehouseServer.services(context)
        const origin = server.info.baseUrl
        const issue = (scopes: ReadonlyArray<string>) =>
          Effect.map(server.sessions.issue({ subject: "owner", scopes, method: "pairing" }), ({ session, token }) => ({
            id: session.sid,
            token: Redacted.value(token)
          }))
        const admin = yield* issue(["read:hello", "read:access", "write:access"])
        const victim = yield* issue(["read:hello"])

        yield* proxy.down
        const during = yield* request(`${origin}/api/hello`, { headers: bearer(victim.token) })
        assert.strictEqual(during.status, 503, during.text)
        assert.strictEqual(during.json.error.code, "service_unavailable")
        assert.isString(during.json.error.message)
        assert.isDefined(during.headers["retry-after"])
        const failedRevoke = yield* request(`${origin}/api/auth/sessions/${victim.id}`, {
          method: "DELETE",
          headers: bearer(admin.token)
        })
        assert.strictEqual(failedRevoke.status, 503, "a revoke that could not be stored is not reported as done")
        const pairing = yield* bearerBootstrap(origin, "ABCDEFGHJKMNPQRS")
        assert.strictEqual(pairing.status, 503)
        assert.notProperty(pairing.json, "accessToken")

        yield* proxy.up
        // The failed revoke did nothing; this one is stored and holds.
        assert.strictEqual(yield* hello(origin, victim.token), 200)
        const revoke = yield* request(`${origin}/api/auth/sessions/${victim.id}`, {
          method: "DELETE",
          headers: bearer(admin.token)
        })
        assert.strictEqual(revoke.status, 200, revoke.text)
        assert.strictEqual(yield* hello(origin, victim.token), 401)
        yield* proxy.down
        assert.strictEqual(yield* hello(origin, victim.token), 503, "still not authenticated during an outage")
        yield* proxy.up
        assert.strictEqual(yield* hello(origin, victim.token), 401)
      }),
    90_000
  )
})

requirePostgresInCi()
