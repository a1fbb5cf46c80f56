/**
 * State that outlives the process: `gatehouse serve` on SQLite in the state directory, stopped and
 * started again, and the `gatehouse` commands working on that state while a server runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Crockford } from "@gatehouse-auth/core"
import { bearer, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import {
  bearerBootstrap,
  exited,
  gatehouse,
  keyIdOf,
  openSocket,
  pairingUrl,
  pairWith,
  request,
  serve
} from "./helpers.ts"

const stop = (served: Parameters<typeof exited>[0]) =>
  Effect.gen(function*() {
    served.child.kill("SIGTERM")
    assert.strictEqual((yield* exited(served)).code, 0)
  })

/** The pairing link in `gatehouse pair` output. */
const pairOutput = /^Pairing URL: (http:\/\/127\.0\.0\.1:\d+)\/pair#token=([0-9A-Z]{16})$/m

const appliedMigrations = (stateDir: string) => {
  const db = new DatabaseSync(Path.join(stateDir, "gatehouse.db"), { readOnly: true })
  try {
    return db.prepare("SELECT migration_id FROM gatehouse_migrations ORDER BY migration_id").all()
      .map((row) => Number(row.migration_id))
  } finally {
    db.close()
  }
}

describe("state across restarts (SQLite in --state-dir)", () => {
  it.live(
    "sessions, revocations and pairing links survive a restart; migrations run once",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const first = yield* serve(["--port", "0", "--state-dir", stateDir])
        const before = yield* pairingUrl(first)
        const admin = yield* pairWith(before.origin, before.token)
        // Two more sessions through a link for two devices; one is revoked before the restart.
        const twice = (yield* gatehouse(["pair", "--state-dir", stateDir, "--uses", "2"])).stdout.match(pairOutput)![2]!
        const kept = yield* pairWith(before.origin, twice)
        const revoked = yield* pairWith(before.origin, twice)
        const revoke = yield* request(`${before.origin}/api/auth/sessions/${revoked.id}`, {
          method: "DELETE",
          headers: bearer(admin.token)
        })
        assert.strictEqual(revoke.status, 200, revoke.text)
        // A link nobody has used yet.
        const unused = yield* request(`${before.origin}/api/auth/pairing-links`, {
          method: "POST",
          headers: bearer(admin.token),
          body: { label: "later", scopes: ["read:hello"] }
        })
        const migrations = appliedMigrations(stateDir)
        assert.deepStrictEqual(migrations, [1, 2, 3, 4, 5, 6, 7, 8])
        yield* stop(first)

        const second = yield* serve(["--port", "0", "--state-dir", stateDir])
        const after = yield* pairingUrl(second)
        for (const session of [admin, kept]) {
          const hello = yield* request(`${after.origin}/api/hello`, { headers: bearer(session.token) })
          assert.strictEqual(hello.status, 200, hello.text)
        }
        assert.strictEqual(
          (yield* request(`${after.origin}/api/hello`, { headers: bearer(revoked.token) })).status,
          401
        )
        const listed = yield* request(`${after.origin}/api/auth/sessions`, { headers: bearer(admin.token) })
        assert.sameMembers(listed.json.sessions.map((session: { id: string }) => session.id), [admin.id, kept.id])
        // The used-up link stays used up; the unused one still works, once.
        assert.strictEqual((yield* bearerBootstrap(after.origin, twice)).status, 401)
        yield* pairWith(after.origin, unused.json.credential)
        assert.strictEqual((yield* bearerBootstrap(after.origin, unused.json.credential)).status, 401)
        // The first run's startup URL was used; the second run's is new and works.
        assert.notStrictEqual(after.token, before.token)
        yield* pairWith(after.origin, after.token)
        // The second start applied nothing: the same migrations, each once.
        assert.deepStrictEqual(appliedMigrations(stateDir), migrations)
        yield* stop(second)
      }),
    60_000
  )
})

describe("gatehouse commands beside a running server", () => {
  it.live(
    "pair prints a URL that reaches the server, its code and QR; the link pairs with the scopes asked for",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        const { origin } = yield* pairingUrl(served)
        const paired = yield* gatehouse([
          "pair",
          "--state-dir",
          stateDir,
          "--label",
          "phone",
          "--scopes",
          "read:hello,write:hello"
        ])
        assert.strictEqual(paired.code, 0, paired.stderr)
        const match = pairOutput.exec(paired.stdout)
        assert.isNotNull(match, paired.stdout)
        assert.strictEqual(match![1], origin)
        const code = match![2]!
        assert.include(paired.stdout, `Code: ${Crockford.format(code)}`)
        assert.match(paired.stdout, /[▀▄█]{20,}/, "a QR code")
        const session = yield* pairWith(origin, code)
        const state = yield* request(`${origin}/api/auth/session`, { headers: bearer(session.token) })
        assert.deepStrictEqual(state.json.session.scopes, ["read:hello", "write:hello"])
        assert.strictEqual(state.json.session.client.label, "phone")
        assert.strictEqual((yield* bearerBootstrap(origin, code)).status, 401, "used once")

        // Asking for more than the server can grant, or for nonsense, is refused with a reason.
        const beyond = yield* gatehouse(["pair", "--state-dir", stateDir, "--scopes", "delete:everything"])
        assert.strictEqual(beyond.code, 1)
        assert.include(beyond.stderr, "cannot grant delete:everything")
        const badTtl = yield* gatehouse(["pair", "--state-dir", stateDir, "--ttl", "forever"])
        assert.strictEqual(badTtl.code, 1)
        assert.include(badTtl.stderr, "--ttl")
      }),
    60_000
  )

  it.live(
    "sessions list shows every session and no token; revoke makes the server refuse it and close its socket",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        const pairing = yield* pairingUrl(served)
        const admin = yield* pairWith(pairing.origin, pairing.token)
        const linkCode = (yield* gatehouse(["pair", "--state-dir", stateDir, "--uses", "2"])).stdout.match(
          pairOutput
        )![2]!
        const phone = yield* pairWith(pairing.origin, linkCode)
        const laptop = yield* pairWith(pairing.origin, linkCode)

        const listed = yield* gatehouse(["sessions", "list", "--state-dir", stateDir])
        assert.strictEqual(listed.code, 0, listed.stderr)
        for (const session of [admin, phone, laptop]) {
          assert.include(listed.stdout, session.id)
          assert.notInclude(listed.stdout, session.token)
          assert.notInclude(listed.stdout, session.token.split(".")[3]!)
        }
        // Paired through the bearer flow: each row says so, in the TRANSPORT column.
        assert.match(listed.stdout, /^ID\s+SUBJECT\s+METHOD\s+TRANSPORT\s+LABEL/m)
        for (const session of [admin, phone, laptop]) {
          assert.match(listed.stdout, new RegExp(`^${session.id}\\s+owner\\s+pairing\\s+bearer\\s`, "m"))
        }

        const socket = yield* openSocket(pairing.origin, phone.token)
        const revoked = yield* gatehouse(["sessions", "revoke", "--state-dir", stateDir, "--", phone.id])
        assert.strictEqual(revoked.code, 0, revoked.stderr)
        assert.strictEqual(
          (yield* request(`${pairing.origin}/api/hello`, { headers: bearer(phone.token) })).status,
          401
        )
        const code = yield* Effect.promise(() => socket.closed).pipe(Effect.timeout("2 seconds"))
        assert.strictEqual(code, 4401)
        const again = yield* gatehouse(["sessions", "revoke", "--state-dir", stateDir, "--", phone.id])
        assert.strictEqual(again.code, 1)
        assert.include(again.stderr, `No session ${phone.id}`)

        // revoke-others refuses an id it does not know (and revokes nothing), then keeps exactly one.
        const typo = yield* gatehouse(["sessions", "revoke-others", "--keep", "nope", "--state-dir", stateDir])
        assert.strictEqual(typo.code, 1)
        assert.strictEqual(
          (yield* request(`${pairing.origin}/api/hello`, { headers: bearer(laptop.token) })).status,
          200
        )
        const others = yield* gatehouse(["sessions", "revoke-others", `--keep=${admin.id}`, "--state-dir", stateDir])
        assert.strictEqual(others.code, 0, others.stderr)
        assert.include(others.stdout, "Revoked 1 session")
        assert.strictEqual(
          (yield* request(`${pairing.origin}/api/hello`, { headers: bearer(laptop.token) })).status,
          401
        )
        assert.strictEqual(
          (yield* request(`${pairing.origin}/api/hello`, { headers: bearer(admin.token) })).status,
          200
        )
      }),
    60_000
  )

  it.live(
    "keys rotate: tokens from before stay valid, the server signs new ones with the new key",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir, "--key-refresh-interval", "200 millis"])
        const pairing = yield* pairingUrl(served)
        const before = yield* pairWith(pairing.origin, pairing.token)
        const rotated = yield* gatehouse(["keys", "rotate", "--state-dir", stateDir])
        assert.strictEqual(rotated.code, 0, rotated.stderr)
        const kid = /New signing key ([A-Za-z0-9_-]+)\./.exec(rotated.stdout)![1]!
        assert.notStrictEqual(kid, keyIdOf(before.token))
        const listed = (yield* gatehouse(["keys", "list", "--state-dir", stateDir])).stdout
        assert.match(listed, new RegExp(`^${keyIdOf(before.token)} .* retired `, "m"))
        assert.match(listed, new RegExp(`^${kid} .*\\(current\\)$`, "m"))

        // The server picks the new key up on its next refresh: new sessions carry it (bounded wait).
        let latest = before
        for (let attempt = 0; attempt < 50 && keyIdOf(latest.token) !== kid; attempt++) {
          yield* Effect.sleep("100 millis")
          const link = yield* request(`${pairing.origin}/api/auth/pairing-links`, {
            method: "POST",
            headers: bearer(before.token),
            body: { label: "after rotation" }
          })
          latest = yield* pairWith(pairing.origin, link.json.credential)
        }
        assert.strictEqual(keyIdOf(latest.token), kid)
        for (const session of [before, latest]) {
          assert.strictEqual(
            (yield* request(`${pairing.origin}/api/hello`, { headers: bearer(session.token) })).status,
            200
          )
        }
      }),
    60_000
  )

  it.live(
    "pair without a running server: says what it assumes; --url says where; a stale server.json is ignored",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        const { origin } = yield* pairingUrl(served)
        const announced = JSON.parse(Fs.readFileSync(Path.join(stateDir, "server.json"), "utf8"))
        assert.deepStrictEqual(announced, {
          baseUrl: origin,
          pid: served.child.pid,
          pairingBaseUrl: origin,
          otherBaseUrls: []
        })
        assert.strictEqual(Fs.statSync(Path.join(stateDir, "server.json")).mode & 0o777, 0o600)
        yield* stop(served)
        assert.isFalse(Fs.existsSync(Path.join(stateDir, "server.json")), "removed on shutdown")

        const assumed = yield* gatehouse(["pair", "--state-dir", stateDir])
        assert.strictEqual(assumed.code, 0, assumed.stderr)
        assert.include(assumed.stderr, "No running server found")
        assert.match(assumed.stdout, /^Pairing URL: http:\/\/127\.0\.0\.1:3773\/pair#token=/m)
        // A file left by a killed server names a dead process.
        Fs.writeFileSync(
          Path.join(stateDir, "server.json"),
          JSON.stringify({ baseUrl: "http://127.0.0.1:1", pid: 2 ** 22 + 1 })
        )
        const stale = yield* gatehouse(["pair", "--state-dir", stateDir])
        assert.match(stale.stdout, /^Pairing URL: http:\/\/127\.0\.0\.1:3773\/pair#token=/m)
        const told = yield* gatehouse(["pair", "--state-dir", stateDir, "--url", "https://gatehouse.example.com"])
        assert.match(told.stdout, /^Pairing URL: https:\/\/gatehouse\.example\.com\/pair#token=/m)
        const bad = yield* gatehouse(["pair", "--state-dir", stateDir, "--url", "https://x.example.com/path?q"])
        assert.strictEqual(bad.code, 1)
      }),
    60_000
  )

  it.live("a command on a database that cannot be used says so in one line", () =>
    Effect.gen(function*() {
      const result = yield* gatehouse(["sessions", "list", "--database-url", "postgres://u:hunter2@127.0.0.1:9/none"])
      assert.strictEqual(result.code, 1)
      assert.include(result.stderr, "Cannot use the database 127.0.0.1:9/none")
      assert.notInclude(result.stderr + result.stdout, "hunter2")
      assert.notMatch(result.stderr, /^\s+at /m)
    }))
})
