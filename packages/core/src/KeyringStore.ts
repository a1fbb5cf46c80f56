/**
 * Where the signing keyring's keys live, so that `SigningKeyring` can keep them in the secret store
 * (the default: one file per state directory, or the environment) or in a database shared by
 * several instances (`@gatehouse/sql`). The keyring decides what the keys are (which is current,
 * which retire, when to drop them); a store only keeps them.
 */
import { Context, type Effect, type Option } from "effect"
import type { SecretGenerationForbidden } from "./ServerSecretStore.ts"
import type { KeyringFailure, SigningKey } from "./SigningKeyring.ts"

export type KeyringStoreFailure = KeyringFailure | SecretGenerationForbidden

export interface KeyringStoreShape {
  /** The stored keys, oldest first (the last one is current); none when there is no keyring yet. */
  readonly load: Effect.Effect<Option.Option<ReadonlyArray<SigningKey>>, KeyringStoreFailure>
  /**
   * Stores `keys` as the keyring unless one exists; returns the keyring stored afterwards (another
   * process's, if it got there first, so that every creator ends with the same keys).
   */
  readonly create: (keys: ReadonlyArray<SigningKey>) => Effect.Effect<ReadonlyArray<SigningKey>, KeyringStoreFailure>
  /**
   * Replaces the keyring with `f(current)` (`current` is empty when there is none) and returns what
   * was stored. A store shared by several processes applies `f` atomically against the others.
   */
  readonly update: (
    f: (current: ReadonlyArray<SigningKey>) => ReadonlyArray<SigningKey>
  ) => Effect.Effect<ReadonlyArray<SigningKey>, KeyringStoreFailure>
}

export class KeyringStore extends Context.Service<KeyringStore, KeyringStoreShape>()(
  "@gatehouse/core/KeyringStore"
) {}
