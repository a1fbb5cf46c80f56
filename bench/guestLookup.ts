/**
 * Guest lookup against session verification, both over one SQLite file, side by side in one run:
 * - `guest.lookup (SQLite)`: GuestSessionService.lookup of an existing guest by its cookie (HMAC of
 *   the cookie with the pepper, the row by its hash with remembered reads, a new signed guest
 *   token each time: what `POST /api/auth/guest-session` does for a returning browser);
 * - `session.verify (SQLite)`: SessionCredentialService.verify over the SQL session store.
 * Target: guest lookup >= 0.5x session verify.
 */
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Guests from "../packages/core/src/GuestSessionService.ts"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as Sessions from "../packages/core/src/SessionCredentialService.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import * as SqlStores from "../packages/sql/src/SqlStores.ts"
import { compare, ratio, report } from "./harness.ts"

export const run = async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-"))
  const scope = Effect.runSync(Scope.make())
  try {
    const context = await Effect.runPromise(Layer.buildWithScope(
      Layer.mergeAll(Guests.layer(), Sessions.layer()).pipe(
        Layer.provideMerge(SigningKeyring.layer()),
        Layer.provideMerge(SqlStores.layerSqlite({ filename: Path.join(directory, "gatehouse.db") })),
        Layer.provideMerge(ServerSecretStore.layerMemory())
      ),
      scope
    ))
    const guests = Context.get(context, Guests.GuestSessionService)
    const sessions = Context.get(context, Sessions.SessionCredentialService)
    const guest = await Effect.runPromise(guests.lookupOrCreate())
    const session = await Effect.runPromise(
      sessions.issue({ subject: "owner", scopes: ["read:hello"], method: "pairing", client: { label: "bench" } })
    )

    const results = await compare([
      {
        name: "guest.lookup (SQLite)",
        run: (n) =>
          Effect.runSync(Effect.gen(function*() {
            for (let i = 0; i < n; i++) {
              if (Option.isNone(yield* guests.lookup(guest.cookie))) throw new Error("guest not found")
            }
          }))
      },
      {
        name: "session.verify (SQLite)",
        run: (n) =>
          Effect.runSync(Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* sessions.verify(session.token)
          }))
      }
    ])
    report("guestLookup", results, [
      ratio(results, "guest lookup / session verify", "guest.lookup (SQLite)", "session.verify (SQLite)", 0.5)
    ])
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(directory, { recursive: true, force: true })
  }
}
