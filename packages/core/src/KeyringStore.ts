/**
 * Where the signing keyring's keys live, so that `SigningKeyring` can keep them in the secret store
 * (`layerSecretStore`, the default: one secret per state directory, or the environment) or in a
 * database shared by several instances (`@gatehouse-auth/sql`). The keyring decides what the keys are
 * (which is current, which retire, when to drop them); a store only keeps them.
 *
 * In the secret store the keyring is one secret, `signing-keyring`: JSON `{ v: 1, keys: [{ kid, key,
 * createdAt, retiredAt? }] }`, keys in base64url, the last key current. A secret that is not such a
 * document (for example `GATEHOUSE_SECRET_SIGNING_KEYRING` set to 32 random bytes) is one key whose
 * id derives from its hash, so every instance given the same bytes agrees on the id.
 */
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as Base64Url from "./Base64Url.ts"
import type { StoreError } from "./Errors.ts"
import { sha256Hex } from "./Hashing.ts"
import * as ServerSecretStore from "./ServerSecretStore.ts"

export const secretName = "signing-keyring"

export const keyBytes = 32

/** The secret a store shared by several instances encrypts the keys with (see `KeyringStore`). */
export const wrappingKeyName = "keyring-wrapping-key"

export interface SigningKey {
  readonly kid: string
  readonly key: Redacted.Redacted<Uint8Array>
  readonly createdAt: number
  readonly retiredAt?: number | undefined
}

const storedKey = (kid: string, bytes: Uint8Array, createdAt: number, retiredAt?: number): SigningKey => ({
  kid,
  key: Redacted.make(bytes, { label: `signing-key:${kid}` }),
  createdAt,
  retiredAt
})

export class KeyringError extends Schema.TaggedError<KeyringError>()("KeyringError", {
  reason: Schema.Literals(["Malformed", "TooShort", "ManagedByEnvironment", "WrongWrappingKey"])
}) {
  override get message(): string {
    switch (this.reason) {
      case "Malformed":
        return `The "${secretName}" secret is not a valid keyring`
      case "TooShort":
        return `A signing key must have at least ${keyBytes} bytes`
      case "ManagedByEnvironment":
        return `The signing keyring comes from ${ServerSecretStore.overrideVariable(secretName)}; rotate by changing it`
      case "WrongWrappingKey":
        return `The stored signing keys were encrypted with another "${wrappingKeyName}" secret: every instance ` +
          `sharing them needs the same ${ServerSecretStore.overrideVariable(wrappingKeyName)}`
    }
  }
}

export type KeyringFailure =
  | KeyringError
  | ServerSecretStore.SecretError
  | ServerSecretStore.SecretAlreadyExists
  | StoreError

export type KeyringStoreFailure = KeyringFailure | ServerSecretStore.SecretGenerationForbidden

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
  "@gatehouse-auth/core/KeyringStore"
) {}

const StoredKey = Schema.Struct({
  kid: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/)),
  key: Schema.String,
  createdAt: Schema.Number,
  retiredAt: Schema.optional(Schema.Number)
})

const KeyringDocument = Schema.fromJsonString(Schema.Struct({
  v: Schema.Literal(1),
  keys: Schema.Array(StoredKey).check(Schema.isMinLength(1))
}))

const decodeDocument = Schema.decodeUnknownOption(KeyringDocument)
const encodeDocument = Schema.encodeSync(KeyringDocument)

/** Parses the stored secret: a keyring document, or raw key bytes. */
export const parse = (bytes: Uint8Array): Option.Option<ReadonlyArray<SigningKey>> | "TooShort" => {
  const document = decodeDocument(Buffer.from(bytes).toString("utf8"))
  if (Option.isNone(document)) {
    if (bytes.byteLength < keyBytes) return "TooShort"
    return Option.some([storedKey(`s${sha256Hex(bytes).slice(0, 15)}`, bytes, 0)])
  }
  const keys: Array<SigningKey> = []
  for (const stored of document.value.keys) {
    const key = Base64Url.decodeOrUndefined(stored.key)
    if (key === undefined) return Option.none()
    if (key.byteLength < keyBytes) return "TooShort"
    keys.push(storedKey(stored.kid, key, stored.createdAt, stored.retiredAt))
  }
  return Option.some(keys)
}

const serialize = (keys: ReadonlyArray<SigningKey>): Uint8Array =>
  Buffer.from(
    encodeDocument({
      v: 1,
      keys: keys.map((key) => ({
        kid: key.kid,
        key: Base64Url.encode(Redacted.value(key.key)),
        createdAt: key.createdAt,
        ...(key.retiredAt === undefined ? {} : { retiredAt: key.retiredAt })
      }))
    }),
    "utf8"
  )

/**
 * The keyring kept in the secret store under `signing-keyring` (a file in the state directory, or
 * `GATEHOUSE_SECRET_SIGNING_KEYRING`). Creating is refused in hosted mode; updating is refused
 * when the keyring comes from the environment.
 */
export const makeSecretStore = Effect.gen(function*() {
  const store = yield* ServerSecretStore.ServerSecretStore
  const malformed = new KeyringError({ reason: "Malformed" })

  const readStored = Effect.gen(function*() {
    const secret = yield* store.get(secretName)
    if (Option.isNone(secret)) return Option.none<ReadonlyArray<SigningKey>>()
    const parsed = parse(Redacted.value(secret.value))
    if (parsed === "TooShort") return yield* new KeyringError({ reason: "TooShort" })
    if (Option.isNone(parsed)) return yield* malformed
    return parsed
  })

  const create = Effect.fnUntraced(function*(keys: ReadonlyArray<SigningKey>) {
    if (store.hosted) {
      return yield* new ServerSecretStore.SecretGenerationForbidden({
        name: secretName,
        variable: ServerSecretStore.overrideVariable(secretName),
        bytes: keyBytes
      })
    }
    const created = yield* store.create(secretName, Redacted.make(serialize(keys))).pipe(
      Effect.as(true),
      Effect.catchTag("SecretAlreadyExists", () => Effect.succeed(false))
    )
    if (created) return keys
    // Another process won the race: use what it wrote.
    const winner = yield* readStored
    return Option.isSome(winner) ? winner.value : yield* malformed
  })

  const update = Effect.fnUntraced(function*(f: (current: ReadonlyArray<SigningKey>) => ReadonlyArray<SigningKey>) {
    const fromEnvironment = yield* Effect.map(
      Effect.option(ServerSecretStore.readOverride(secretName)),
      (value) => Option.isSome(value) && Option.isSome(value.value)
    )
    if (fromEnvironment) return yield* new KeyringError({ reason: "ManagedByEnvironment" })
    const keys = f(Option.getOrElse(yield* readStored, () => []))
    yield* store.set(secretName, Redacted.make(serialize(keys)))
    return keys
  })

  return KeyringStore.of({ load: readStored, create, update })
})

/** The keyring in the `ServerSecretStore` (what `SigningKeyring.layer` uses). */
export const layerSecretStore = Layer.effect(KeyringStore, makeSecretStore)
