/**
 * Session verification with the SQLite session store, side by side in one process and one run:
 * - `session.verify (SQLite)`: SessionCredentialService.verify over the SQL session store on a real
 *   SQLite file (remembered reads: each verify checks the database for changes, then serves the
 *   decoded row if nothing changed), `lastSeenAt` throttling on (the default: one write a minute);
 * - `session.verify (SQLite, every read from the file)`: the same with `rememberReads: false`;
 * - `session.verify (memory)`: the same service over the memory store;
 * - `raw HMAC`: node:crypto HMAC-SHA256 + timingSafeEqual over the token's signing input.
 * Target: SQLite-backed verify >= 0.35x raw HMAC (issue 20; it was 0.25).
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import type { SqlClient } from "effect/sql"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as Sessions from "../packages/core/src/SessionCredentialService.ts"
import * as SessionStore from "../packages/core/src/SessionStore.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import * as Database from "../packages/sql/src/Database.ts"
import * as SqlSessionStore from "../packages/sql/src/SqlSessionStore.ts"
import { compare, ratio, report } from "./harness.ts"

export const run = async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-"))
  const filename = Path.join(directory, "gatehouse.db")
  const scope = Effect.runSync(Scope.make())
  try {
    // One keyring and one database connection for every candidate, so one token verifies on each.
    const shared = await Effect.runPromise(Layer.buildWithScope(
      Layer.mergeAll(
        SigningKeyring.layer().pipe(Layer.provide(ServerSecretStore.layerMemory())),
        Database.layerSqlite({ filename })
      ),
      scope
    ))
    const service = (store: Layer.Layer<SessionStore.SessionStore, unknown, SqlClient.SqlClient>) =>
      Effect.runPromise(
        Layer.buildWithScope(Sessions.layer().pipe(Layer.provide(store)), scope).pipe(Effect.provideContext(shared))
      ).then(Context.get(Sessions.SessionCredentialService))
    const sqlite = await service(SqlSessionStore.layer())
    const sqliteUncached = await service(SqlSessionStore.layer({ rememberReads: false }))
    const memory = await service(Layer.effect(SessionStore.SessionStore, SessionStore.makeMemory))

    const person = {
      subject: "owner",
      scopes: ["read:hello", "write:access"],
      method: "pairing",
      client: { label: "bench" }
    }
    const onSqlite = await Effect.runPromise(sqlite.issue(person))
    const onMemory = await Effect.runPromise(memory.issue(person))
    const tokenText = Redacted.value(onSqlite.token)

    const rawKey = Crypto.randomBytes(32)
    const signingInput = tokenText.slice(0, tokenText.lastIndexOf("."))
    const rawSignature = Crypto.createHmac("sha256", rawKey).update(signingInput).digest()

    const verifyLoop =
      (service: Sessions.SessionCredentialServiceShape, token: Redacted.Redacted<string>) => (iterations: number) =>
        Effect.runSync(Effect.gen(function*() {
          for (let i = 0; i < iterations; i++) yield* service.verify(token)
        }))

    const results = await compare([
      { name: "session.verify (SQLite)", run: verifyLoop(sqlite, onSqlite.token) },
      { name: "session.verify (SQLite, every read from the file)", run: verifyLoop(sqliteUncached, onSqlite.token) },
      { name: "session.verify (memory)", run: verifyLoop(memory, onMemory.token) },
      {
        name: "raw HMAC",
        run: (n) => {
          for (let i = 0; i < n; i++) {
            const expected = Crypto.createHmac("sha256", rawKey).update(signingInput).digest()
            if (!Crypto.timingSafeEqual(expected, rawSignature)) throw new Error("bad signature")
          }
        }
      }
    ])
    report("sqlVerify", results, [
      ratio(results, "SQLite verify / raw HMAC", "session.verify (SQLite)", "raw HMAC", 0.35),
      ratio(
        results,
        "SQLite verify, every read from the file / raw HMAC (informational)",
        "session.verify (SQLite, every read from the file)",
        "raw HMAC",
        0
      ),
      ratio(
        results,
        "SQLite verify / memory verify (informational)",
        "session.verify (SQLite)",
        "session.verify (memory)",
        0
      )
    ], { tokenLength: tokenText.length })
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(directory, { recursive: true, force: true })
  }
}
