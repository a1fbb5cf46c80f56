/**
 * Storage of the OAuth authorization server, behind one interface so memory, SQLite and Postgres
 * are interchangeable. Nothing secret is stored: codes and refresh tokens by their SHA-256 only.
 *
 * - A grant links an OAuth session (a session record of method `oauth`, which is what the session
 *   list shows and `sessions revoke` ends) to its client, its resource and the session that
 *   approved it (revoking that one revokes the grant).
 * - A code is consumed exactly once: `consumeCode` answers `first: true` to one caller only, across
 *   every process on the store; a replay still finds the record (`first: false`), so the grant made
 *   from it can be revoked.
 * - A refresh token rotates exactly once: `rotateRefresh` marks it rotated for one caller only and
 *   keeps the successor sealed under a key derived from the rotated token itself (see
 *   `OAuthAuthorizationServer`), so a retry within the grace gets the same successor back and the
 *   store alone cannot produce it.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { StoreError } from "./Errors.ts"
import type { SessionId } from "./Ids.ts"

export interface OAuthGrant {
  /** The OAuth session's id. */
  readonly sid: SessionId
  readonly clientId: string
  readonly clientName: string
  /** The MCP resource its tokens are for (`aud`). */
  readonly resource: string
  /** The session that approved it. */
  readonly approvedBy: SessionId
  readonly createdAt: number
}

export interface OAuthCode {
  readonly codeHash: string
  readonly sid: SessionId
  readonly clientId: string
  readonly redirectUri: string
  readonly codeChallenge: string
  readonly resource: string
  readonly expiresAt: number
}

export interface OAuthRefreshToken {
  readonly tokenHash: string
  readonly sid: SessionId
  readonly clientId: string
  readonly createdAt: number
  /** When it was exchanged for its successor; absent while it is the current one. */
  readonly rotatedAt?: number | undefined
  /** The successor, sealed under a key only the rotated token yields. */
  readonly successorSeal?: string | undefined
}

export interface OAuthStoreShape {
  readonly insertGrant: (grant: OAuthGrant) => Effect.Effect<void, StoreError>
  readonly getGrant: (sid: SessionId) => Effect.Effect<Option.Option<OAuthGrant>, StoreError>
  /** The OAuth sessions approved by any of `sids`. */
  readonly grantsApprovedBy: (sids: ReadonlyArray<SessionId>) => Effect.Effect<ReadonlyArray<SessionId>, StoreError>
  /** Forgets the grants of `sids` with their codes and refresh tokens. */
  readonly removeGrants: (sids: ReadonlyArray<SessionId>) => Effect.Effect<void, StoreError>
  readonly insertCode: (code: OAuthCode) => Effect.Effect<void, StoreError>
  /** The code's record, `first` for exactly one caller; `None` for a code never issued. */
  readonly consumeCode: (
    codeHash: string,
    now: number
  ) => Effect.Effect<Option.Option<{ readonly code: OAuthCode; readonly first: boolean }>, StoreError>
  readonly insertRefresh: (token: OAuthRefreshToken) => Effect.Effect<void, StoreError>
  readonly getRefresh: (tokenHash: string) => Effect.Effect<Option.Option<OAuthRefreshToken>, StoreError>
  /** Marks the current token rotated with its sealed successor; `true` for exactly one caller. */
  readonly rotateRefresh: (tokenHash: string, successorSeal: string, now: number) => Effect.Effect<boolean, StoreError>
  readonly removeRefresh: (tokenHash: string) => Effect.Effect<void, StoreError>
}

export class OAuthStore extends Context.Service<OAuthStore, OAuthStoreShape>()("@gatehouse-auth/core/OAuthStore") {}

/** Everything in `Map`s; each operation is one synchronous step, so each is atomic. */
export const makeMemory = Effect.sync(() => {
  const grants = new Map<SessionId, OAuthGrant>()
  const codes = new Map<string, OAuthCode & { consumed: boolean }>()
  const refresh = new Map<string, OAuthRefreshToken>()

  const sweepCodes = (now: number) => {
    // A code is kept a while past its expiry, so a late replay still revokes what it made.
    for (const [hash, code] of codes) if (code.expiresAt + 600_000 < now) codes.delete(hash)
  }

  return OAuthStore.of({
    insertGrant: (grant) => Effect.sync(() => void grants.set(grant.sid, grant)),
    getGrant: (sid) => Effect.sync(() => Option.fromNullishOr(grants.get(sid))),
    grantsApprovedBy: (sids) =>
      Effect.sync(() => {
        const wanted = new Set(sids)
        return [...grants.values()].filter((grant) => wanted.has(grant.approvedBy)).map((grant) => grant.sid)
      }),
    removeGrants: (sids) =>
      Effect.sync(() => {
        const gone = new Set(sids)
        for (const sid of gone) grants.delete(sid)
        for (const [hash, code] of codes) if (gone.has(code.sid)) codes.delete(hash)
        for (const [hash, token] of refresh) if (gone.has(token.sid)) refresh.delete(hash)
      }),
    insertCode: (code) => Effect.sync(() => void codes.set(code.codeHash, { ...code, consumed: false })),
    consumeCode: (codeHash, now) =>
      Effect.sync(() => {
        sweepCodes(now)
        const found = codes.get(codeHash)
        if (found === undefined) return Option.none()
        const first = !found.consumed
        found.consumed = true
        const { consumed: _, ...code } = found
        return Option.some({ code, first })
      }),
    insertRefresh: (token) => Effect.sync(() => void refresh.set(token.tokenHash, token)),
    getRefresh: (tokenHash) => Effect.sync(() => Option.fromNullishOr(refresh.get(tokenHash))),
    rotateRefresh: (tokenHash, successorSeal, now) =>
      Effect.sync(() => {
        const found = refresh.get(tokenHash)
        if (found === undefined || found.rotatedAt !== undefined) return false
        refresh.set(tokenHash, { ...found, rotatedAt: now, successorSeal })
        return true
      }),
    removeRefresh: (tokenHash) => Effect.sync(() => void refresh.delete(tokenHash))
  })
})

export const layerMemory = Layer.effect(OAuthStore, makeMemory)
