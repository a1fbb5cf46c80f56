/**
 * Storage of session records and of used WebSocket ticket ids, behind one interface so memory,
 * SQLite and Postgres are interchangeable. Tokens are never stored: a session token is signed, and
 * the record only says the session still exists and when it was last seen.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { ClientMetadata } from "./ClientMetadata.ts"
import type { StoreError } from "./Errors.ts"
import type { SessionId } from "./Ids.ts"

/**
 * How a session's token is carried: `cookie`, an HttpOnly cookie a browser keeps (the cookie
 * bootstrap); `bearer`, a token a client holds itself and sends as `Authorization: Bearer` (the
 * bearer bootstrap, the CLI). Each has its own lifetimes (`SessionCredentialService`).
 */
export type Transport = "cookie" | "bearer"

export const transports: ReadonlyArray<Transport> = ["cookie", "bearer"]

export interface SessionRecord {
  readonly sid: SessionId
  readonly subject: string
  readonly scopes: ReadonlyArray<string>
  /** How the session was obtained (`bootstrap`, `pairing`, `cli`, ...). */
  readonly method: string
  readonly transport: Transport
  readonly createdAt: number
  readonly lastSeenAt: number
  readonly client: ClientMetadata
  /**
   * The RFC 7638 thumbprint of the DPoP key the session is bound to (a bearer bootstrap that came
   * with a proof). A bound session is accepted only as `Authorization: DPoP` with a proof by that
   * key, and mints only credentials bound to it. Absent: an ordinary bearer or cookie session.
   */
  readonly jkt?: string | undefined
}

export interface SessionStoreShape {
  readonly insert: (record: SessionRecord) => Effect.Effect<void, StoreError>
  readonly get: (sid: SessionId) => Effect.Effect<Option.Option<SessionRecord>, StoreError>
  /**
   * The records of those of `sids` that exist, each once, in any order (absent ids are left out). One round
   * trip per few hundred ids: what the WebSocket liveness check runs for every connected session.
   */
  readonly getMany: (sids: ReadonlyArray<SessionId>) => Effect.Effect<ReadonlyArray<SessionRecord>, StoreError>
  /** Moves `lastSeenAt` forward to `at` (never backwards). */
  readonly touch: (sid: SessionId, at: number) => Effect.Effect<void, StoreError>
  readonly remove: (sid: SessionId) => Effect.Effect<boolean, StoreError>
  /** Removes every session but `sid`; returns the removed ids. */
  readonly removeAllExcept: (sid: SessionId) => Effect.Effect<ReadonlyArray<SessionId>, StoreError>
  readonly list: Effect.Effect<ReadonlyArray<SessionRecord>, StoreError>
  /**
   * Records a single-use ticket id; `true` the first time, `false` on every replay. Entries can be
   * forgotten once `expiresAt` has passed (the ticket itself is expired by then).
   */
  readonly consumeTicket: (jti: string, expiresAt: number, now: number) => Effect.Effect<boolean, StoreError>
}

export class SessionStore extends Context.Service<SessionStore, SessionStoreShape>()(
  "@gatehouse-auth/core/SessionStore"
) {}

/**
 * The most one-use ticket ids the memory store remembers (WebSocket tickets and one-time access
 * tokens, each until it expires). Expired ones are swept every minute, and at the cap at most once
 * a second; a ticket that finds the table full of live ones is refused.
 */
export const maxMemoryTickets = 100_000

/** Sessions in a `Map`. Every operation is one synchronous step, so each is atomic. */
export const makeMemory = Effect.sync(() => {
  const sessions = new Map<SessionId, SessionRecord>()
  const tickets = new Map<string, number>()
  let nextTicketSweep = 0
  let nextFullSweep = 0

  return SessionStore.of({
    insert: (record) => Effect.sync(() => void sessions.set(record.sid, record)),
    get: (sid) => Effect.sync(() => Option.fromNullishOr(sessions.get(sid))),
    getMany: (sids) => Effect.sync(() => [...new Set(sids)].flatMap((sid) => sessions.get(sid) ?? [])),
    touch: (sid, at) =>
      Effect.sync(() => {
        const record = sessions.get(sid)
        if (record !== undefined && at > record.lastSeenAt) sessions.set(sid, { ...record, lastSeenAt: at })
      }),
    remove: (sid) => Effect.sync(() => sessions.delete(sid)),
    removeAllExcept: (sid) =>
      Effect.sync(() => {
        const removed = [...sessions.keys()].filter((id) => id !== sid)
        for (const id of removed) sessions.delete(id)
        return removed
      }),
    list: Effect.sync(() => [...sessions.values()]),
    consumeTicket: (jti, expiresAt, now) =>
      Effect.sync(() => {
        if (now >= nextTicketSweep || (tickets.size >= maxMemoryTickets && now >= nextFullSweep)) {
          for (const [id, expiry] of tickets) if (expiry <= now) tickets.delete(id)
          nextTicketSweep = now + 60_000
          nextFullSweep = now + 1_000
        }
        if (tickets.has(jti)) return false
        // Full of unexpired tickets: refused (never one forgotten early, which would let it replay).
        if (tickets.size >= maxMemoryTickets) return false
        tickets.set(jti, expiresAt)
        return true
      })
  })
})

export const layerMemory = Layer.effect(SessionStore, makeMemory)
