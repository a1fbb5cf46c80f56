/**
 * The signing keyring in the database (`gatehouse_signing_keys`), so every instance on one
 * database signs and verifies with the same keys and a rotation (`gatehouse keys rotate`, or any
 * instance) reaches all of them: each picks it up on its next refresh, or at once when it meets a
 * token with a key id it does not know.
 *
 * Keys are never stored in plain text. Each is encrypted with AES-256-GCM under a 256-bit wrapping
 * key from the secret store (`keyring-wrapping-key`: a file in the state directory, or
 * `GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY`), with the key id as associated data so that a row cannot
 * be passed off as another key. A copy of the database alone therefore signs nothing. Instances
 * sharing the database need the same wrapping key; a mismatch is a clear startup error
 * (`KeyringError` "WrongWrappingKey"), recognised by the wrapping key's id stored beside each key.
 *
 * Writers take a lock (PostgreSQL: `LOCK TABLE ... SHARE ROW EXCLUSIVE`, which readers do not wait
 * for; SQLite: `BEGIN IMMEDIATE`), so two rotations at once never lose a key.
 *
 * When `GATEHOUSE_SECRET_SIGNING_KEYRING` is set the keyring comes from the environment instead,
 * exactly as with the secret-store keyring (rotation then means changing the variable).
 */
import { Base64Url, Hashing, KeyringStore, ServerSecretStore } from "@gatehouse-auth/core"
import { Effect, Layer, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import * as Crypto from "node:crypto"
import { decode, integer, optionalInteger, text } from "./Rows.ts"
import { guardFor } from "./StoreFailure.ts"

type Row = Record<string, unknown>

const wrappingKeyBytes = 32
const format = "v1"

const associatedData = (kid: string) => Buffer.from(`gatehouse/signing-key/${format}/${kid}`, "utf8")

/** A short public id of the wrapping key, to tell "wrong wrapping key" from "damaged row". */
export const wrappingKeyId = (wrappingKey: Uint8Array): string =>
  Hashing.hmacSha256Base64Url(wrappingKey, "gatehouse/keyring-wrapping-key-id").slice(0, 16)

/** `v1.<nonce>.<ciphertext+tag>`, base64url. */
export const wrap = (wrappingKey: Uint8Array, kid: string, key: Uint8Array): string => {
  const nonce = Hashing.randomBytes(12)
  const cipher = Crypto.createCipheriv("aes-256-gcm", wrappingKey, nonce)
  cipher.setAAD(associatedData(kid))
  const sealed = Buffer.concat([cipher.update(key), cipher.final(), cipher.getAuthTag()])
  return `${format}.${Base64Url.encode(nonce)}.${sealed.toString("base64url")}`
}

/** The key bytes, or `undefined` when the text is not a key wrapped by `wrappingKey` for `kid`. */
export const unwrap = (wrappingKey: Uint8Array, kid: string, wrapped: string): Uint8Array | undefined => {
  const [version, nonceText, sealedText, ...rest] = wrapped.split(".")
  if (version !== format || nonceText === undefined || sealedText === undefined || rest.length > 0) return undefined
  const nonce = Base64Url.decodeOrUndefined(nonceText)
  const sealed = Base64Url.decodeOrUndefined(sealedText)
  if (nonce === undefined || sealed === undefined || nonce.byteLength !== 12 || sealed.byteLength <= 16) {
    return undefined
  }
  try {
    const decipher = Crypto.createDecipheriv("aes-256-gcm", wrappingKey, nonce)
    decipher.setAAD(associatedData(kid))
    decipher.setAuthTag(sealed.subarray(sealed.byteLength - 16))
    return new Uint8Array(
      Buffer.concat([decipher.update(sealed.subarray(0, sealed.byteLength - 16)), decipher.final()])
    )
  } catch {
    return undefined
  }
}

export const make = Effect.gen(function*() {
  const secrets = yield* ServerSecretStore.ServerSecretStore
  const fromEnvironment = yield* ServerSecretStore.readOverride(KeyringStore.secretName)
  if (Option.isSome(fromEnvironment)) return yield* KeyringStore.makeSecretStore

  const sql = yield* SqlClient.SqlClient
  const wrappingKey = Redacted.value(yield* secrets.getOrCreateRandom(KeyringStore.wrappingKeyName, wrappingKeyBytes))
  const ownWrappingKeyId = wrappingKeyId(wrappingKey)
  const fail = yield* guardFor("signing key")

  const toKey = (row: Row): KeyringStore.SigningKey | KeyringStore.KeyringError => {
    const kid = text(row.kid)
    if (text(row.wrapping_key_id) !== ownWrappingKeyId) {
      return new KeyringStore.KeyringError({ reason: "WrongWrappingKey" })
    }
    const bytes = unwrap(wrappingKey, kid, text(row.wrapped_key))
    if (bytes === undefined) return new KeyringStore.KeyringError({ reason: "Malformed" })
    if (bytes.byteLength < KeyringStore.keyBytes) return new KeyringStore.KeyringError({ reason: "TooShort" })
    return {
      kid,
      key: Redacted.make(bytes, { label: `signing-key:${kid}` }),
      createdAt: integer(row.created_at),
      retiredAt: optionalInteger(row.retired_at)
    }
  }

  const read = Effect.gen(function*() {
    const rows = yield* fail("read the signing keys")(
      sql<Row>`SELECT * FROM gatehouse_signing_keys ORDER BY position`.pipe(
        Effect.flatMap((rows) => decode(() => rows.map(toKey)))
      )
    )
    const keys: Array<KeyringStore.SigningKey> = []
    for (const key of rows) {
      if (key instanceof KeyringStore.KeyringError) return yield* key
      keys.push(key)
    }
    return keys
  })

  const write = (keys: ReadonlyArray<KeyringStore.SigningKey>) =>
    fail("store the signing keys")(Effect.gen(function*() {
      yield* sql`DELETE FROM gatehouse_signing_keys`
      for (const [position, key] of keys.entries()) {
        yield* sql`INSERT INTO gatehouse_signing_keys (kid, position, created_at, retired_at, wrapped_key, wrapping_key_id)
          VALUES (${key.kid}, ${position}, ${key.createdAt}, ${key.retiredAt ?? null},
            ${wrap(wrappingKey, key.kid, Redacted.value(key.key))}, ${ownWrappingKeyId})`
      }
    }))

  /** Runs `effect` in a transaction holding the keyring's write lock. */
  const locked = <A, E>(effect: Effect.Effect<A, E>) =>
    sql.withTransaction(
      Effect.andThen(
        sql.onDialectOrElse({
          pg: () => Effect.asVoid(sql`LOCK TABLE gatehouse_signing_keys IN SHARE ROW EXCLUSIVE MODE`),
          orElse: () => Effect.void
        }),
        effect
      )
    ).pipe(Effect.catchTag("SqlError", (error) => fail("lock the signing keys")(Effect.fail(error))))

  return KeyringStore.KeyringStore.of({
    load: Effect.map(read, (keys) => keys.length === 0 ? Option.none() : Option.some(keys)),
    create: (keys) =>
      locked(Effect.gen(function*() {
        const existing = yield* read
        if (existing.length > 0) return existing
        yield* write(keys)
        return keys
      })),
    update: (f) =>
      locked(Effect.gen(function*() {
        const keys = f(yield* read)
        yield* write(keys)
        return keys
      }))
  })
})

/**
 * `KeyringStore` in the database; give it to `SigningKeyring.layerFromStore`. Needs the
 * `SqlClient` (migrated: see `Database`) and the `ServerSecretStore` for the wrapping key.
 */
export const layer = (): Layer.Layer<
  KeyringStore.KeyringStore,
  KeyringStore.KeyringStoreFailure,
  SqlClient.SqlClient | ServerSecretStore.ServerSecretStore
> => Layer.effect(KeyringStore.KeyringStore, make)
