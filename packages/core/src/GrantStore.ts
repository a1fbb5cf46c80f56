/**
 * Storage of pairing grants, behind one interface so memory, SQLite and Postgres are
 * interchangeable. A grant is found by the SHA-256 of its canonical credential; the credential
 * itself is never stored.
 *
 * `consume` is the one operation that must be atomic: deciding and decrementing happen in one
 * step (`Ref.modify` here, one conditional `UPDATE ... RETURNING` in SQL), so a grant with
 * `uses = n` succeeds exactly n times under any concurrency.
 */
import { Context, Effect, HashMap, Layer, Option, Ref } from "effect"
import type { StoreError } from "./Errors.ts"
import { constantTimeEqualString } from "./Hashing.ts"
import type { GrantId, SessionId } from "./Ids.ts"

export interface Grant {
  readonly id: GrantId
  /** Hex SHA-256 of the canonical credential. */
  readonly credentialHash: string
  readonly kind: "pairing" | "desktop"
  readonly subject: string
  readonly scopes: ReadonlyArray<string>
  readonly label: string | undefined
  readonly uses: number
  readonly usesRemaining: number
  readonly createdAt: number
  readonly ttlMillis: number
  /** `undefined` until the grant is armed (the desktop grant, before the server listens). */
  readonly expiresAt: number | undefined
  readonly revokedAt: number | undefined
  readonly proofKeyThumbprint: string | undefined
  /**
   * The session that minted this grant (a pairing link made through the HTTP route), or
   * `undefined` when no session did (the startup URL, the desktop grant, `gatehouse pair`).
   * Revoking that session revokes the grant (see docs/security-model.md, "Revocation").
   */
  readonly createdBy: SessionId | undefined
}

export type ConsumeOutcome =
  | { readonly _tag: "Consumed"; readonly grant: Grant }
  | { readonly _tag: "Unknown" }
  | { readonly _tag: "Expired"; readonly id: GrantId }
  | { readonly _tag: "Revoked" }
  | { readonly _tag: "ProofKeyMismatch" }

export interface GrantStoreShape {
  readonly insert: (grant: Grant) => Effect.Effect<void, StoreError>
  readonly findByHash: (credentialHash: string) => Effect.Effect<Option.Option<Grant>, StoreError>
  /**
   * Atomically uses the grant once. Expired grants are deleted; used-up grants are gone
   * (`Unknown`); a proof-key mismatch uses nothing.
   */
  readonly consume: (
    credentialHash: string,
    now: number,
    proofKeyThumbprint: string | undefined
  ) => Effect.Effect<ConsumeOutcome, StoreError>
  /** Marks the grant revoked; `false` when there is no such grant. */
  readonly revoke: (id: GrantId, now: number) => Effect.Effect<boolean, StoreError>
  /**
   * Marks revoked every grant not yet revoked whose `createdBy` is one of `sids`; returns their ids.
   * What revoking a session does to the pairing links it made.
   */
  readonly revokeCreatedBy: (
    sids: ReadonlyArray<SessionId>,
    now: number
  ) => Effect.Effect<ReadonlyArray<GrantId>, StoreError>
  readonly remove: (id: GrantId) => Effect.Effect<boolean, StoreError>
  /** Sets `expiresAt = now + ttl` on every grant of `kind` that is not armed yet; returns them. */
  readonly arm: (kind: Grant["kind"], now: number) => Effect.Effect<ReadonlyArray<Grant>, StoreError>
  /** Grants that can still be used at `now` (not expired, revoked or used up); prunes the rest. */
  readonly listActive: (now: number) => Effect.Effect<ReadonlyArray<Grant>, StoreError>
}

export class GrantStore extends Context.Service<GrantStore, GrantStoreShape>()("@gatehouse-auth/core/GrantStore") {}

export const isExpired = (grant: Grant, now: number): boolean => grant.expiresAt !== undefined && now >= grant.expiresAt

export const isActive = (grant: Grant, now: number): boolean =>
  !isExpired(grant, now) && grant.revokedAt === undefined && grant.usesRemaining > 0

/** The decision `consume` makes, shared by every store so they agree on the rules. */
export const decideConsume = (
  grant: Grant | undefined,
  now: number,
  proofKeyThumbprint: string | undefined
): ConsumeOutcome => {
  if (grant === undefined || grant.usesRemaining <= 0) return { _tag: "Unknown" }
  if (isExpired(grant, now)) return { _tag: "Expired", id: grant.id }
  if (grant.revokedAt !== undefined) return { _tag: "Revoked" }
  if (
    grant.proofKeyThumbprint !== undefined &&
    (proofKeyThumbprint === undefined || !constantTimeEqualString(grant.proofKeyThumbprint, proofKeyThumbprint))
  ) return { _tag: "ProofKeyMismatch" }
  return { _tag: "Consumed", grant: { ...grant, usesRemaining: grant.usesRemaining - 1 } }
}

/** Grants in memory, keyed by credential hash. */
export const makeMemory = Effect.gen(function*() {
  const grants = yield* Ref.make(HashMap.empty<string, Grant>())

  const findId = (map: HashMap.HashMap<string, Grant>, id: GrantId) =>
    HashMap.findFirst(map, (grant) => grant.id === id)

  return GrantStore.of({
    insert: (grant) => Ref.update(grants, HashMap.set(grant.credentialHash, grant)),
    findByHash: (hash) => Effect.map(Ref.get(grants), HashMap.get(hash)),
    consume: (hash, now, proofKeyThumbprint) =>
      Ref.modify(grants, (map): readonly [ConsumeOutcome, HashMap.HashMap<string, Grant>] => {
        const outcome = decideConsume(Option.getOrUndefined(HashMap.get(map, hash)), now, proofKeyThumbprint)
        switch (outcome._tag) {
          case "Expired":
            return [outcome, HashMap.remove(map, hash)]
          case "Consumed":
            return [
              outcome,
              outcome.grant.usesRemaining === 0
                ? HashMap.remove(map, hash)
                : HashMap.set(map, hash, outcome.grant)
            ]
          default:
            return [outcome, map]
        }
      }),
    revoke: (id, now) =>
      Ref.modify(grants, (map) => {
        const found = findId(map, id)
        if (Option.isNone(found)) return [false, map]
        const [hash, grant] = found.value
        return [true, HashMap.set(map, hash, { ...grant, revokedAt: grant.revokedAt ?? now })]
      }),
    revokeCreatedBy: (sids, now) =>
      Ref.modify(grants, (map) => {
        const wanted = new Set<string>(sids)
        const revoked: Array<GrantId> = []
        const next = HashMap.map(map, (grant) => {
          if (grant.createdBy === undefined || !wanted.has(grant.createdBy) || grant.revokedAt !== undefined) {
            return grant
          }
          revoked.push(grant.id)
          return { ...grant, revokedAt: now }
        })
        return [revoked, next]
      }),
    remove: (id) =>
      Ref.modify(grants, (map) => {
        const found = findId(map, id)
        return Option.isNone(found) ? [false, map] : [true, HashMap.remove(map, found.value[0])]
      }),
    arm: (kind, now) =>
      Ref.modify(grants, (map) => {
        const armed: Array<Grant> = []
        const next = HashMap.map(map, (grant) => {
          if (grant.kind !== kind || grant.expiresAt !== undefined) return grant
          const updated = { ...grant, expiresAt: now + grant.ttlMillis }
          armed.push(updated)
          return updated
        })
        return [armed, next]
      }),
    listActive: (now) =>
      Ref.modify(grants, (map) => {
        // Revoked grants stay until they expire, so using one says "revoked", not "unknown".
        const kept = HashMap.filter(map, (grant) => !isExpired(grant, now) && grant.usesRemaining > 0)
        const active = [...HashMap.values(kept)].filter((grant) => isActive(grant, now))
        return [active.sort((a, b) => a.createdAt - b.createdAt), kept]
      })
  })
})

export const layerMemory = Layer.effect(GrantStore, makeMemory)
