/**
 * OAuth grants and the `gatehouse` CLI, against a reference server on the same state directory
 * (SQLite, another process): `sessions list` shows the grant (the client's name, method `oauth`),
 * `sessions revoke` of the grant ends its tokens, and `sessions revoke` of the approving browser
 * session ends the grants it approved.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { gatehouse } from "./helpers.ts"
import { mcpStatus, newFlow, pairBrowser, start, tokensFor } from "./oauth.ts"

describe("OAuth grants in the gatehouse CLI", () => {
  it.live(
    "sessions list shows the grant; sessions revoke ends it, and revoking the approver ends its grants",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const server = yield* start({ stateDir })
        const cookie = yield* pairBrowser(server)
        const first = yield* tokensFor(yield* newFlow(server.origin, "http://127.0.0.1/callback", "CLI agent"), cookie)
        const second = yield* tokensFor(
          yield* newFlow(server.origin, "http://127.0.0.1/callback", "Other agent"),
          cookie
        )

        const listed = yield* gatehouse(["sessions", "list", "--state-dir", stateDir])
        assert.strictEqual(listed.code, 0, listed.stderr)
        const line = listed.stdout.split("\n").find((each) => each.includes("CLI agent"))
        assert.isDefined(line)
        assert.include(line!, "oauth")
        const grantId = (yield* server.sessions.list).find((session) => session.client.label === "CLI agent")!.sid

        const revoked = yield* gatehouse(["sessions", "revoke", grantId, "--state-dir", stateDir])
        assert.strictEqual(revoked.code, 0, revoked.stderr)
        assert.strictEqual((yield* mcpStatus(server.origin, first.access_token)).status, 401)
        assert.strictEqual((yield* mcpStatus(server.origin, second.access_token)).status, 200)

        const approver = (yield* server.sessions.list).find((session) => session.method !== "oauth")!.sid
        const ended = yield* gatehouse(["sessions", "revoke", approver, "--state-dir", stateDir])
        assert.strictEqual(ended.code, 0, ended.stderr)
        assert.strictEqual((yield* mcpStatus(server.origin, second.access_token)).status, 401)
      })),
    60_000
  )
})
