/**
 * The OAuth authorization server on two reference servers sharing one PostgreSQL (behind one public
 * URL, as instances behind a proxy are): authorized on A, the code exchanged and refreshed on B; a
 * code raced on both is consumed exactly once and revokes what it issued; a revoke on A is refused by B within a second.
 * Needs `GATEHOUSE_TEST_DATABASE_URL`; skipped locally without one, a failure in CI.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Effect, Redacted } from "effect"
import { authorizationUrl, mcpStatus, newFlow, openPage, postForm, postToken, start } from "./oauth.ts"

const publicUrl = "https://gatehouse.example"

requirePostgresInCi()

describe.skipIf(unavailable !== undefined)("OAuth across two instances on one PostgreSQL", () => {
  it.live(
    "authorize on A, exchange and refresh on B; a raced code once; revoke on A, refused on B within 1 s",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const url = Redacted.make(yield* freshSchemaUrl)
        // One state directory: the wrapping key of the shared keyring lives there.
        const stateDir = yield* tempDirectory
        const a = yield* start({ databaseUrl: url, publicUrl, stateDir })
        const b = yield* start({ databaseUrl: url, publicUrl, stateDir })
        const approver = yield* a.sessions.issue({
          subject: "owner",
          scopes: ["read:hello", "write:hello", "read:runs", "write:tasks", "read:access", "write:access"],
          method: "pairing"
        })
        const cookieA = `gatehouse_session_${a.port}=${Redacted.value(approver.token)}`
        const local = (server: typeof a) => `http://127.0.0.1:${server.port}`

        /** A code approved on A for `flow` (registered on A). */
        const approveOnA = (flow: Effect.Success<ReturnType<typeof newFlow>>) =>
          Effect.gen(function*() {
            const url = authorizationUrl({ ...flow, origin: local(a) }, { resource: `${publicUrl}/mcp` })
            const page = yield* openPage(url, cookieA)
            assert.strictEqual(page.status, 200, page.html)
            const posted = yield* postForm(url, [...page.fields, ["action", "approve"]], {
              cookie: cookieA,
              origin: publicUrl
            })
            assert.strictEqual(posted.status, 303, posted.text)
            const callback = new URL(posted.location!)
            assert.strictEqual(callback.searchParams.get("iss"), publicUrl)
            return callback.searchParams.get("code")!
          })

        /** `/mcp`'s status for `token` on `server`: polled until 401, for at most a second. */
        const statusWithin1s = (server: typeof a, token: string) =>
          Effect.gen(function*() {
            const deadline = Date.now() + 1_000
            let status = (yield* mcpStatus(local(server), token)).status
            for (let tries = 0; status !== 401 && Date.now() < deadline && tries < 40; tries++) {
              yield* Effect.sleep("50 millis")
              status = (yield* mcpStatus(local(server), token)).status
            }
            return status
          })

        const flow = yield* newFlow(local(a))
        const exchangeOn = (server: typeof a, code: string) =>
          postToken(`${local(server)}/oauth/token`, {
            grant_type: "authorization_code",
            code,
            client_id: flow.clientId,
            redirect_uri: flow.redirectUri,
            code_verifier: flow.verifier
          })

        // Authorized on A, exchanged on B (the client id is stateless: B verifies A's signature).
        const tokens = yield* exchangeOn(b, yield* approveOnA(flow))
        assert.strictEqual(tokens.status, 200, tokens.text)
        assert.strictEqual((yield* mcpStatus(local(b), tokens.json.access_token)).status, 200)
        assert.strictEqual((yield* mcpStatus(local(a), tokens.json.access_token)).status, 200)
        const refreshed = yield* postToken(`${local(b)}/oauth/token`, {
          grant_type: "refresh_token",
          refresh_token: tokens.json.refresh_token,
          client_id: flow.clientId
        })
        assert.strictEqual(refreshed.status, 200, refreshed.text)

        // One code presented to both at once: exactly one instance consumes it; the other sees a
        // replay and revokes the grant (RFC 6749 §4.1.2). The consumer answers 200 when it minted
        // before that revoke landed and 400 after; either way nothing issued from the code survives.
        const raced = yield* approveOnA(flow)
        const outcomes = yield* Effect.all([exchangeOn(a, raced), exchangeOn(b, raced)], { concurrency: "unbounded" })
        const replays = outcomes.filter((outcome) => /used already/.test(outcome.json?.error_description ?? ""))
        assert.strictEqual(replays.length, 1, outcomes.map((outcome) => outcome.text).join(" | "))
        assert.strictEqual(replays[0]!.status, 400)
        const consumer = outcomes.find((outcome) => outcome !== replays[0])!
        if (consumer.status === 200) {
          for (const server of [a, b]) {
            assert.strictEqual(yield* statusWithin1s(server, consumer.json.access_token), 401)
          }
          const reused = yield* postToken(`${local(b)}/oauth/token`, {
            grant_type: "refresh_token",
            refresh_token: consumer.json.refresh_token,
            client_id: flow.clientId
          })
          assert.strictEqual(reused.status, 400, reused.text)
        } else {
          assert.strictEqual(consumer.status, 400, consumer.text)
          assert.strictEqual(consumer.json.error, "invalid_grant")
        }

        // Revoked on A (RFC 7009), refused on B within a second.
        const revoked = yield* postToken(`${local(a)}/oauth/revoke`, {
          token: refreshed.json.refresh_token,
          client_id: flow.clientId
        })
        assert.strictEqual(revoked.status, 200)
        assert.strictEqual(yield* statusWithin1s(b, refreshed.json.access_token), 401)
      })),
    60_000
  )
})
