/**
 * Where the reference server keeps its state. The ONE place that picks store implementations:
 * the persistence work swaps the memory grant and session stores for SQLite / Postgres here.
 *
 * - secrets (signing keys): on disk, `<stateDir>/secrets/<name>.bin` (directory 0700, files 0600);
 * - pairing grants and sessions: in memory for now, so a restart logs every device out.
 */
import { Layer } from "effect"
import { GrantStore, ServerSecretStore, SessionStore } from "@gatehouse/core"

export interface Options {
  readonly stateDir: string
  /** Refuse to generate secrets on disk (they must come from `GATEHOUSE_SECRET_*`). */
  readonly hosted?: boolean | undefined
}

/** Needs `FileSystem` and `Path` (the Node HTTP server layer provides both). */
export const layer = (options: Options) =>
  Layer.mergeAll(
    ServerSecretStore.layer({ stateDir: options.stateDir, hosted: options.hosted }),
    // Built per call: memory layers are memoised by identity, and two servers in one process
    // must not share grants or sessions.
    Layer.effect(GrantStore.GrantStore, GrantStore.makeMemory),
    Layer.effect(SessionStore.SessionStore, SessionStore.makeMemory)
  )
