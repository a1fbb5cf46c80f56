/**
 * Pairing grants in SQL (`gatehouse_grants`), found by the SHA-256 of the credential; the
 * credential itself is never stored.
 *
 * `consume` is one conditional `UPDATE ... RETURNING`: the row is decremented only if it is still
 * usable (uses left, not revoked, not expired, proof key matching), and the database applies that
 * check and the decrement as one step, so a grant with `uses = n` succeeds exactly n times however
 * many processes race for it (PostgreSQL re-checks the WHERE clause on the newest row version after
 * a concurrent update; SQLite runs one writer at a time). Only when the UPDATE matched nothing does
 * the store read the row to say why, with the core's pure `decideConsume`, so every store agrees on
 * the rules.
 */
import { GrantStore } from "@gatehouse-auth/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import {
  decode,
  grantId,
  integer,
  optionalInteger,
  optionalSessionId,
  optionalText,
  stringArray,
  text
} from "./Rows.ts"
import { guardFor } from "./StoreFailure.ts"

type Row = Record<string, unknown>

const toGrant = (row: Row): GrantStore.Grant => {
  const kind = text(row.kind)
  if (kind !== "pairing" && kind !== "desktop") throw new TypeError("unknown grant kind")
  return {
    id: grantId(row.id),
    credentialHash: text(row.credential_hash),
    kind,
    subject: text(row.subject),
    scopes: stringArray(row.scopes),
    label: optionalText(row.label),
    uses: integer(row.uses),
    usesRemaining: integer(row.uses_remaining),
    createdAt: integer(row.created_at),
    ttlMillis: integer(row.ttl_millis),
    expiresAt: optionalInteger(row.expires_at),
    revokedAt: optionalInteger(row.revoked_at),
    proofKeyThumbprint: optionalText(row.proof_key_thumbprint),
    createdBy: optionalSessionId(row.created_by)
  }
}

const toGrants = (rows: ReadonlyArray<Row>) => decode(() => rows.map(toGrant))

/** A second look after a race that changed the row between the UPDATE and the read is enough. */
const maxAttempts = 3

/** Session ids per `IN (...)` list. */
const chunkSize = 500

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = yield* guardFor("grant")

  const insert = (grant: GrantStore.Grant) =>
    // Same credential again (the desktop credential re-seeded at each start) replaces the grant,
    // as the memory store does.
    sql`INSERT INTO gatehouse_grants (
        id, credential_hash, kind, subject, scopes, label, uses, uses_remaining,
        created_at, ttl_millis, expires_at, revoked_at, proof_key_thumbprint, created_by
      ) VALUES (
        ${grant.id}, ${grant.credentialHash}, ${grant.kind}, ${grant.subject}, ${JSON.stringify(grant.scopes)},
        ${grant.label ?? null}, ${grant.uses}, ${grant.usesRemaining}, ${grant.createdAt}, ${grant.ttlMillis},
        ${grant.expiresAt ?? null}, ${grant.revokedAt ?? null}, ${grant.proofKeyThumbprint ?? null},
        ${grant.createdBy ?? null}
      )
      ON CONFLICT (credential_hash) DO UPDATE SET
        id = excluded.id, kind = excluded.kind, subject = excluded.subject, scopes = excluded.scopes,
        label = excluded.label, uses = excluded.uses, uses_remaining = excluded.uses_remaining,
        created_at = excluded.created_at, ttl_millis = excluded.ttl_millis, expires_at = excluded.expires_at,
        revoked_at = excluded.revoked_at, proof_key_thumbprint = excluded.proof_key_thumbprint,
        created_by = excluded.created_by`.pipe(
      Effect.asVoid,
      fail("insert a grant")
    )

  const byHash = (hash: string) =>
    Effect.flatMap(sql<Row>`SELECT * FROM gatehouse_grants WHERE credential_hash = ${hash}`, toGrants)

  const findByHash = (hash: string) =>
    byHash(hash).pipe(
      // A used-up row may linger for an instant before its delete: it is gone, as in memory.
      Effect.map((grants) => Option.filter(Option.fromNullishOr(grants[0]), (grant) => grant.usesRemaining > 0)),
      fail("find a grant")
    )

  const deleteUsedUp = (id: string) => sql`DELETE FROM gatehouse_grants WHERE id = ${id} AND uses_remaining <= 0`

  const deleteExpired = (id: string, now: number) =>
    sql`DELETE FROM gatehouse_grants WHERE id = ${id} AND expires_at IS NOT NULL AND expires_at <= ${now}`

  const tryConsume = (hash: string, now: number, proofKeyThumbprint: string | undefined) =>
    Effect.flatMap(
      sql<Row>`UPDATE gatehouse_grants SET uses_remaining = uses_remaining - 1
        WHERE credential_hash = ${hash}
          AND uses_remaining > 0
          AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > ${now})
          AND (proof_key_thumbprint IS NULL OR proof_key_thumbprint = ${proofKeyThumbprint ?? null})
        RETURNING *`,
      toGrants
    )

  /** Why the UPDATE matched nothing; `undefined` if the row is usable after all (it changed meanwhile). */
  const classify = (hash: string, now: number, proofKeyThumbprint: string | undefined) =>
    Effect.flatMap(byHash(hash), (grants): Effect.Effect<GrantStore.ConsumeOutcome | undefined, unknown> => {
      const outcome = GrantStore.decideConsume(grants[0], now, proofKeyThumbprint)
      switch (outcome._tag) {
        case "Consumed":
          return Effect.succeed(undefined)
        case "Expired":
          return Effect.as(deleteExpired(outcome.id, now), outcome)
        default:
          return Effect.succeed(outcome)
      }
    })

  const consume = (hash: string, now: number, proofKeyThumbprint: string | undefined) =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const [consumed] = yield* tryConsume(hash, now, proofKeyThumbprint)
        if (consumed !== undefined) {
          if (consumed.usesRemaining <= 0) yield* deleteUsedUp(consumed.id)
          return { _tag: "Consumed", grant: consumed } as const
        }
        const outcome = yield* classify(hash, now, proofKeyThumbprint)
        if (outcome !== undefined) return outcome
      }
      return { _tag: "Unknown" } as const
    }).pipe(fail("consume a grant"))

  const revoke = (id: string, now: number) =>
    sql`UPDATE gatehouse_grants SET revoked_at = COALESCE(revoked_at, ${now}) WHERE id = ${id} RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      fail("revoke a grant")
    )

  /** One `IN (...)` per chunk, under both engines' parameter limits (as `getMany` for sessions). */
  const revokeCreatedBy = (sids: ReadonlyArray<string>, now: number) =>
    Effect.gen(function*() {
      const unique = [...new Set(sids)]
      const revoked: Array<GrantStore.Grant["id"]> = []
      for (let start = 0; start < unique.length; start += chunkSize) {
        const rows = yield* sql<Row>`UPDATE gatehouse_grants SET revoked_at = ${now}
          WHERE ${sql.in("created_by", unique.slice(start, start + chunkSize))} AND revoked_at IS NULL
          RETURNING id`
        revoked.push(...(yield* decode(() => rows.map((row) => grantId(row.id)))))
      }
      return revoked
    }).pipe(fail("revoke the grants of sessions"))

  const remove = (id: string) =>
    sql`DELETE FROM gatehouse_grants WHERE id = ${id} RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      fail("remove a grant")
    )

  const arm = (kind: GrantStore.Grant["kind"], now: number) =>
    sql<Row>`UPDATE gatehouse_grants SET expires_at = ${now} + ttl_millis
      WHERE kind = ${kind} AND expires_at IS NULL RETURNING *`.pipe(
      Effect.flatMap(toGrants),
      fail("arm grants")
    )

  const listActive = (now: number) =>
    Effect.gen(function*() {
      // Revoked grants stay until they expire, so using one says "revoked", not "unknown".
      yield* sql`DELETE FROM gatehouse_grants
        WHERE (expires_at IS NOT NULL AND expires_at <= ${now}) OR uses_remaining <= 0`
      const rows = yield* sql<Row>`SELECT * FROM gatehouse_grants
        WHERE revoked_at IS NULL AND uses_remaining > 0 AND (expires_at IS NULL OR expires_at > ${now})
        ORDER BY created_at, id`
      return yield* toGrants(rows)
    }).pipe(fail("list grants"))

  return GrantStore.GrantStore.of({ insert, findByHash, consume, revoke, revokeCreatedBy, remove, arm, listActive })
})

/**
 * `GrantStore` over the `SqlClient` in context (migrations must have run: see `Database`). A
 * function, so that two stores over two databases in one process are two layers (layers are
 * memoised by identity).
 */
export const layer = (): Layer.Layer<GrantStore.GrantStore, never, SqlClient.SqlClient> =>
  Layer.effect(GrantStore.GrantStore, make)
