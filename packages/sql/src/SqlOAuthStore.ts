/**
 * The OAuth authorization server's store in SQL (`gatehouse_oauth_*`), shared by every instance on
 * the database. Codes and refresh tokens are kept by their SHA-256 only.
 *
 * - `consumeCode` is one conditional `UPDATE ... WHERE consumed_at IS NULL RETURNING`: of any
 *   number of instances presenting one code at once, exactly one gets `first: true`; the others
 *   read the row back as consumed (and so revoke its grant).
 * - `rotateRefresh` is one conditional `UPDATE ... WHERE rotated_at IS NULL`: exactly one rotation
 *   per refresh token, whichever instance runs it.
 */
import { type Ids, OAuthStore } from "@gatehouse-auth/core"
import { Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { decode, integer, optionalInteger, optionalText, sessionId, text } from "./Rows.ts"
import { guardFor } from "./StoreFailure.ts"

type Row = Record<string, unknown>

const toGrant = (row: Row): OAuthStore.OAuthGrant => ({
  sid: sessionId(row.sid),
  clientId: text(row.client_id),
  clientName: text(row.client_name),
  resource: text(row.resource),
  approvedBy: sessionId(row.approved_by),
  createdAt: integer(row.created_at)
})

const toCode = (row: Row): OAuthStore.OAuthCode => ({
  codeHash: text(row.code_hash),
  sid: sessionId(row.sid),
  clientId: text(row.client_id),
  redirectUri: text(row.redirect_uri),
  codeChallenge: text(row.code_challenge),
  resource: text(row.resource),
  expiresAt: integer(row.expires_at)
})

const toRefresh = (row: Row): OAuthStore.OAuthRefreshToken => {
  const rotatedAt = optionalInteger(row.rotated_at)
  const successorSeal = optionalText(row.successor_seal)
  return {
    tokenHash: text(row.token_hash),
    sid: sessionId(row.sid),
    clientId: text(row.client_id),
    createdAt: integer(row.created_at),
    ...(rotatedAt === undefined ? {} : { rotatedAt }),
    ...(successorSeal === undefined ? {} : { successorSeal })
  }
}

/** Ids per `... IN (...)` (bounded statements on both engines). */
const chunkSize = 500

const chunks = <A>(items: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += chunkSize) out.push(items.slice(i, i + chunkSize))
  return out
}

/** A consumed code is kept this long past its expiry, so a late replay still revokes its grant. */
const replayWindow = 600_000

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fail = yield* guardFor("oauth")

  const insertGrant = (grant: OAuthStore.OAuthGrant) =>
    sql`INSERT INTO gatehouse_oauth_grants (sid, client_id, client_name, resource, approved_by, created_at)
      VALUES (${grant.sid}, ${grant.clientId}, ${grant.clientName}, ${grant.resource}, ${grant.approvedBy},
        ${grant.createdAt})`.pipe(Effect.asVoid, fail("insert an OAuth grant"))

  const getGrant = (sid: Ids.SessionId) =>
    sql<Row>`SELECT * FROM gatehouse_oauth_grants WHERE sid = ${sid}`.pipe(
      Effect.flatMap((rows) => decode(() => rows.length === 0 ? Option.none() : Option.some(toGrant(rows[0]!)))),
      fail("read an OAuth grant")
    )

  const grantsApprovedBy = (sids: ReadonlyArray<Ids.SessionId>) =>
    Effect.map(
      Effect.forEach(chunks([...new Set(sids)]), (chunk) =>
        sql<Row>`SELECT sid FROM gatehouse_oauth_grants WHERE ${sql.in("approved_by", chunk)}`.pipe(
          Effect.flatMap((rows) =>
            decode(() => rows.map((row) => sessionId(row.sid)))
          )
        )),
      (lists) => lists.flat()
    ).pipe(fail("read OAuth grants"))

  const removeGrants = (sids: ReadonlyArray<Ids.SessionId>) =>
    Effect.forEach(chunks([...new Set(sids)]), (chunk) =>
      sql.withTransaction(Effect.all([
        sql`DELETE FROM gatehouse_oauth_refresh_tokens WHERE ${sql.in("sid", chunk)}`,
        sql`DELETE FROM gatehouse_oauth_codes WHERE ${sql.in("sid", chunk)}`,
        sql`DELETE FROM gatehouse_oauth_grants WHERE ${sql.in("sid", chunk)}`
      ], { discard: true })), { discard: true }).pipe(fail("revoke OAuth grants"))

  const insertCode = (code: OAuthStore.OAuthCode) =>
    sql`INSERT INTO gatehouse_oauth_codes (code_hash, sid, client_id, redirect_uri, code_challenge, resource,
        expires_at, consumed_at)
      VALUES (${code.codeHash}, ${code.sid}, ${code.clientId}, ${code.redirectUri}, ${code.codeChallenge},
        ${code.resource}, ${code.expiresAt}, NULL)`.pipe(Effect.asVoid, fail("insert an OAuth code"))

  const consumeCode = (codeHash: string, now: number) =>
    Effect.gen(function*() {
      yield* sql`DELETE FROM gatehouse_oauth_codes WHERE expires_at < ${now - replayWindow}`
      const won = yield* sql<Row>`UPDATE gatehouse_oauth_codes SET consumed_at = ${now}
        WHERE code_hash = ${codeHash} AND consumed_at IS NULL RETURNING *`
      if (won.length > 0) return Option.some({ code: yield* decode(() => toCode(won[0]!)), first: true })
      const seen = yield* sql<Row>`SELECT * FROM gatehouse_oauth_codes WHERE code_hash = ${codeHash}`
      if (seen.length === 0) return Option.none()
      return Option.some({ code: yield* decode(() => toCode(seen[0]!)), first: false })
    }).pipe(fail("consume an OAuth code"))

  const insertRefresh = (token: OAuthStore.OAuthRefreshToken) =>
    sql`INSERT INTO gatehouse_oauth_refresh_tokens (token_hash, sid, client_id, created_at, rotated_at, successor_seal)
      VALUES (${token.tokenHash}, ${token.sid}, ${token.clientId}, ${token.createdAt}, ${token.rotatedAt ?? null},
        ${token.successorSeal ?? null})`.pipe(Effect.asVoid, fail("insert an OAuth refresh token"))

  const getRefresh = (tokenHash: string) =>
    sql<Row>`SELECT * FROM gatehouse_oauth_refresh_tokens WHERE token_hash = ${tokenHash}`.pipe(
      Effect.flatMap((rows) => decode(() => rows.length === 0 ? Option.none() : Option.some(toRefresh(rows[0]!)))),
      fail("read an OAuth refresh token")
    )

  const rotateRefresh = (tokenHash: string, successorSeal: string, now: number) =>
    sql<Row>`UPDATE gatehouse_oauth_refresh_tokens SET rotated_at = ${now}, successor_seal = ${successorSeal}
      WHERE token_hash = ${tokenHash} AND rotated_at IS NULL RETURNING token_hash`.pipe(
      Effect.map((rows) => rows.length > 0),
      fail("rotate an OAuth refresh token")
    )

  const removeRefresh = (tokenHash: string) =>
    sql`DELETE FROM gatehouse_oauth_refresh_tokens WHERE token_hash = ${tokenHash}`.pipe(
      Effect.asVoid,
      fail("remove an OAuth refresh token")
    )

  return OAuthStore.OAuthStore.of({
    insertGrant,
    getGrant,
    grantsApprovedBy,
    removeGrants,
    insertCode,
    consumeCode,
    insertRefresh,
    getRefresh,
    rotateRefresh,
    removeRefresh
  })
})

/** `OAuthStore` over the `SqlClient` in context (migrations must have run: see `Database`). */
export const layer = (): Layer.Layer<OAuthStore.OAuthStore, never, SqlClient.SqlClient> =>
  Layer.effect(OAuthStore.OAuthStore, make)
