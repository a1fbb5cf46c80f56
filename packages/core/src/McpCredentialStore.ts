/**
 * Storage of MCP credentials for `McpSessionRegistry.layerStore`, so several instances on one
 * database share them: a credential minted on one resolves on the others, and a revoke on one is
 * seen by all. Tokens are never stored: a record is keyed by `tokenHash`, base64url SHA-256 of the
 * token (`McpSessionRegistry.hashToken`), and the token cannot be recovered from it.
 *
 * The memory store here is the reference implementation (the conformance suite runs on it); the
 * default registry (`McpSessionRegistry.layer`) keeps its own map and needs no store at all.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { StoreError } from "./Errors.ts"
import type { McpCredentialId, SessionId } from "./Ids.ts"

export interface McpCredentialRecord {
  readonly id: McpCredentialId
  /** base64url SHA-256 of the token: the only trace of the token anywhere. */
  readonly tokenHash: string
  readonly threadId: string
  readonly providerInstanceId: string
  readonly capabilities: ReadonlyArray<string>
  /** The session that asked for it, if any. */
  readonly sessionId: SessionId | undefined
  readonly createdAt: number
  readonly absoluteExpiresAt: number
  readonly lastUsedAt: number
  readonly expiresAt: number
}

export interface McpCredentialStoreShape {
  /**
   * Inserts `record` after removing every earlier credential of its thread, as one atomic step
   * (one live credential per thread, whichever instance issues).
   */
  readonly insertReplacingThread: (record: McpCredentialRecord) => Effect.Effect<void, StoreError>
  readonly findByHash: (tokenHash: string) => Effect.Effect<Option.Option<McpCredentialRecord>, StoreError>
  /** Moves `lastUsedAt` and `expiresAt` forward to the given values (never backwards). */
  readonly touch: (tokenHash: string, lastUsedAt: number, expiresAt: number) => Effect.Effect<void, StoreError>
  readonly removeById: (id: McpCredentialId) => Effect.Effect<boolean, StoreError>
  /** Each returns how many it removed. */
  readonly removeByThread: (threadId: string) => Effect.Effect<number, StoreError>
  readonly removeByProvider: (providerInstanceId: string) => Effect.Effect<number, StoreError>
  readonly removeBySessions: (sids: ReadonlyArray<SessionId>) => Effect.Effect<number, StoreError>
  readonly removeAll: Effect.Effect<number, StoreError>
  /** Removes the credentials dead at `now`: unused for `idleMillis`, or past `expiresAt`. */
  readonly removeDead: (now: number, idleMillis: number) => Effect.Effect<number, StoreError>
  /** Every record, dead ones not yet removed included, oldest first. */
  readonly list: Effect.Effect<ReadonlyArray<McpCredentialRecord>, StoreError>
  readonly count: Effect.Effect<number, StoreError>
  /** The distinct sessions of the records (what `McpSessionLink` checks). */
  readonly sessionIds: Effect.Effect<ReadonlyArray<SessionId>, StoreError>
}

export class McpCredentialStore extends Context.Service<McpCredentialStore, McpCredentialStoreShape>()(
  "@gatehouse-auth/core/McpCredentialStore"
) {}

/** Records in a `Map` keyed by token hash. Every operation is one synchronous step, so each is atomic. */
export const makeMemory = Effect.sync(() => {
  const records = new Map<string, McpCredentialRecord>()

  const removeWhere = (predicate: (record: McpCredentialRecord) => boolean): number => {
    let removed = 0
    for (const [hash, record] of records) {
      if (predicate(record)) {
        records.delete(hash)
        removed++
      }
    }
    return removed
  }

  return McpCredentialStore.of({
    insertReplacingThread: (record) =>
      Effect.sync(() => {
        removeWhere((earlier) => earlier.threadId === record.threadId)
        records.set(record.tokenHash, record)
      }),
    findByHash: (tokenHash) => Effect.sync(() => Option.fromNullishOr(records.get(tokenHash))),
    touch: (tokenHash, lastUsedAt, expiresAt) =>
      Effect.sync(() => {
        const record = records.get(tokenHash)
        if (record === undefined) return
        records.set(tokenHash, {
          ...record,
          lastUsedAt: Math.max(record.lastUsedAt, lastUsedAt),
          expiresAt: Math.max(record.expiresAt, expiresAt)
        })
      }),
    removeById: (id) => Effect.sync(() => removeWhere((record) => record.id === id) > 0),
    removeByThread: (threadId) => Effect.sync(() => removeWhere((record) => record.threadId === threadId)),
    removeByProvider: (providerInstanceId) =>
      Effect.sync(() => removeWhere((record) => record.providerInstanceId === providerInstanceId)),
    removeBySessions: (sids) =>
      Effect.sync(() => {
        const set = new Set(sids)
        return removeWhere((record) => record.sessionId !== undefined && set.has(record.sessionId))
      }),
    removeAll: Effect.sync(() => {
      const removed = records.size
      records.clear()
      return removed
    }),
    removeDead: (now, idleMillis) =>
      Effect.sync(() => removeWhere((record) => now - record.lastUsedAt >= idleMillis || now >= record.expiresAt)),
    list: Effect.sync(() => [...records.values()].sort((a, b) => a.createdAt - b.createdAt)),
    count: Effect.sync(() => records.size),
    sessionIds: Effect.sync(() => [
      ...new Set([...records.values()].flatMap((record) => record.sessionId === undefined ? [] : [record.sessionId]))
    ])
  })
})

export const layerMemory = Layer.effect(McpCredentialStore, makeMemory)
