/**
 * DPoP across two `gatehouse serve` processes on one PostgreSQL: a session bound on A is used on
 * B with a nonce A served, and a proof used on one is refused on the other (the replay store is
 * the database's). Needs `GATEHOUSE_TEST_DATABASE_URL`; skipped locally without one, a failure in CI.
 */
import { assert, describe, it } from "@effect/vitest"
import { freePort, tempDirectory } from "@gatehouse-auth/testing/support"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import { newKey, proof } from "./dpopProofs.ts"
import { request, serve, waitFor } from "./helpers.ts"

/** A code from the `Pairing URL:` line (whatever its origin: here the shared public URL). */
const pairingCode = (served: Effect.Success<ReturnType<typeof serve>>) =>
  Effect.map(waitFor(served, /^Pairing URL: \S+#token=([0-9A-Z]{16})$/m), (match) => match[1]!)

describe.skipIf(unavailable !== undefined)("DPoP on two gatehouse serve processes on one PostgreSQL", () => {
  it.live("a nonce from A is accepted by B; a proof used on A is refused on B", () =>
    Effect.gen(function*() {
      const url = yield* freshSchemaUrl
      const env = {
        GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY: Crypto.randomBytes(32).toString("base64url"),
        GATEHOUSE_DATABASE_URL: url
      }
      // Both behind one public origin (a load balancer's), so one proof's htu fits either.
      const publicUrl = "http://gatehouse.test"
      const [portA, portB] = [yield* freePort, yield* freePort]
      const start = (port: number) =>
        Effect.flatMap(
          tempDirectory,
          (stateDir) => serve(["--port", String(port), "--state-dir", stateDir, "--public-url", publicUrl], { env })
        )
      const a = yield* start(portA)
      const code = yield* pairingCode(a)
      const b = yield* start(portB)
      yield* pairingCode(b)
      const at = (port: number, path: string) => `http://127.0.0.1:${port}${path}`
      const key = yield* newKey

      const bootstrapHtu = `${publicUrl}/api/auth/bootstrap/bearer`
      const first = yield* request(at(portA, "/api/auth/bootstrap/bearer"), {
        method: "POST",
        headers: { dpop: yield* proof(key, "POST", bootstrapHtu) },
        body: { credential: code }
      })
      assert.strictEqual(first.status, 400, first.text)
      const nonceFromA = first.headers["dpop-nonce"] as string
      const paired = yield* request(at(portA, "/api/auth/bootstrap/bearer"), {
        method: "POST",
        headers: { dpop: yield* proof(key, "POST", bootstrapHtu, { nonce: nonceFromA }) },
        body: { credential: code }
      })
      assert.strictEqual(paired.status, 200, paired.text)
      const token = paired.json.accessToken as string

      // A proof with A's nonce, used on A, then replayed on B: B finds it in the database.
      const dpop = yield* proof(key, "GET", `${publicUrl}/api/hello`, { token, nonce: nonceFromA })
      const onA = yield* request(at(portA, "/api/hello"), { headers: { authorization: `DPoP ${token}`, dpop } })
      assert.strictEqual(onA.status, 200, onA.text)
      const replayedOnB = yield* request(at(portB, "/api/hello"), { headers: { authorization: `DPoP ${token}`, dpop } })
      assert.strictEqual(replayedOnB.status, 401, replayedOnB.text)
      assert.match(String(replayedOnB.headers["www-authenticate"]), /DPoP error="invalid_dpop_proof"/)

      // A fresh proof with A's nonce is accepted by B: the nonce is the keyring's, not A's.
      const fresh = yield* proof(key, "GET", `${publicUrl}/api/hello`, { token, nonce: nonceFromA })
      const onB = yield* request(at(portB, "/api/hello"), { headers: { authorization: `DPoP ${token}`, dpop: fresh } })
      assert.strictEqual(onB.status, 200, onB.text)
    }), 90_000)
})

requirePostgresInCi()
