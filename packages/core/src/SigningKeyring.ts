/**
 * HMAC-SHA256 signing keys (256 bits) with key ids. Tokens name their key (`kid`); `rotate()` adds a new current key and retires
 * the old one, which keeps verifying until `retention` after its retirement (longer than any token
 * it signed can live), so a rotation logs nobody out.
 *
 * Another process (the CLI, a second instance) may rotate: an unknown `kid` triggers a reload
 * (at most one per `reloadThrottle`) and the layer reloads every `refreshInterval`.
 *
 * Where the keys live is a `KeyringStore`: `layer` keeps them in the secret store (see
 * `KeyringStore.layerSecretStore` for the format); `layerFromStore` takes any other (a database shared by several instances).
 */
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schedule, Semaphore } from "effect"
import * as Crypto from "node:crypto"
import * as Base64Url from "./Base64Url.ts"
import * as Durations from "./Durations.ts"
import { constantTimeEqualString, hmacSha256Base64Url, randomBytes } from "./Hashing.ts"
import * as KeyringStore from "./KeyringStore.ts"
import { keyBytes, type KeyringFailure, type SigningKey } from "./KeyringStore.ts"
import * as ServerSecretStore from "./ServerSecretStore.ts"

/** What the keyring holds for a key: its public description plus a prepared HMAC key. */
interface LoadedKey extends SigningKey {
  readonly hmacKey: Crypto.KeyObject
}

export interface SigningKeyringShape {
  /** The key new tokens are signed with. */
  readonly current: Effect.Effect<SigningKey>
  /** A key that may verify tokens (current or retired within retention). */
  readonly byId: (kid: string) => Effect.Effect<Option.Option<SigningKey>>
  /** Signs `data` with the current key; the signature is base64url (43 characters). */
  readonly sign: (data: string) => Effect.Effect<{ readonly kid: string; readonly signature: string }>
  /**
   * `sign` as a plain call for hot paths: `data(kid)` is signed with the current key, whose id it
   * is given, so the id in the data and the key that signs it are always the same one.
   */
  readonly signUnsafe: (data: (kid: string) => string) => { readonly data: string; readonly signature: string }
  /**
   * Constant-time check of a base64url HMAC-SHA256 signature by the key `kid`. Only the canonical
   * spelling of the signature matches.
   */
  readonly verify: (kid: string, data: string, signature: string) => Effect.Effect<boolean>
  /**
   * `verify` against the keys already in memory, for hot paths: `undefined` when `kid` is not
   * loaded (then call `verify`, which may reload). `now` decides whether a retired key still counts.
   */
  readonly verifyUnsafe: (kid: string, data: string, signature: string, now: number) => boolean | undefined
  /** Adds a new current key and retires the previous one. */
  readonly rotate: Effect.Effect<SigningKey, KeyringFailure | ServerSecretStore.SecretGenerationForbidden>
  /** Re-reads the keyring (picks up rotations made by other processes). */
  readonly reload: Effect.Effect<void, KeyringFailure | ServerSecretStore.SecretGenerationForbidden>
  /** Every key the keyring holds, without key material. */
  readonly list: Effect.Effect<ReadonlyArray<Omit<SigningKey, "key">>>
}

export class SigningKeyring extends Context.Service<SigningKeyring, SigningKeyringShape>()(
  "@gatehouse-auth/core/SigningKeyring"
) {}

export interface Options {
  /** How long a retired key keeps verifying (default 31 days: longer than the 30-day session cap). */
  readonly retention?: Duration.Input | undefined
  /** Minimum time between reloads caused by an unknown key id (default 5 seconds). */
  readonly reloadThrottle?: Duration.Input | undefined
  /** Background reload period (default 1 minute). */
  readonly refreshInterval?: Duration.Input | undefined
}

const toLoaded = (kid: string, bytes: Uint8Array, createdAt: number, retiredAt?: number): LoadedKey => ({
  kid,
  key: Redacted.make(bytes, { label: `signing-key:${kid}` }),
  createdAt,
  retiredAt,
  hmacKey: Crypto.createSecretKey(bytes)
})

const load = (key: SigningKey): LoadedKey => toLoaded(key.kid, Redacted.value(key.key), key.createdAt, key.retiredAt)

/**
 * Constant-time comparison of the expected signature (canonical base64url) with the presented
 * text. Comparing text rather than decoded bytes means only the canonical spelling matches: Node's
 * decoder would also take `+`, `/`, stray characters or non-zero padding bits.
 */
export const signatureMatches = (expected: string, signature: string): boolean =>
  constantTimeEqualString(expected, signature)

const newKey = (now: number): LoadedKey => toLoaded(Base64Url.encode(randomBytes(6)), randomBytes(keyBytes), now)

const describe = ({ createdAt, kid, retiredAt }: SigningKey): Omit<SigningKey, "key"> =>
  retiredAt === undefined ? { kid, createdAt } : { kid, createdAt, retiredAt }

/** The keyring over whatever `KeyringStore` is provided. */
export const makeFromStore = Effect.fnUntraced(function*(options: Options = {}) {
  const store: KeyringStore.KeyringStoreShape = yield* KeyringStore.KeyringStore
  const retention = yield* Durations.toMillis("keyring retention", options.retention, Duration.days(31))
  const throttle = yield* Durations.toMillis("keyring reloadThrottle", options.reloadThrottle, Duration.seconds(5))
  const refreshEvery = yield* Durations.toMillis(
    "keyring refreshInterval",
    options.refreshInterval,
    Duration.minutes(1)
  )
  const lock = yield* Semaphore.make(1)

  /** The stored keyring, created with one fresh key when there is none. */
  const loadOrCreate: Effect.Effect<
    ReadonlyArray<LoadedKey>,
    KeyringFailure | ServerSecretStore.SecretGenerationForbidden
  > = Effect.gen(function*() {
    const existing = yield* store.load
    if (Option.isSome(existing)) return existing.value.map(load)
    const first = newKey(yield* Clock.currentTimeMillis)
    const stored = yield* store.create([first])
    return stored.map((key) => key === first ? first : load(key))
  })

  // Read on every request, so a plain variable (swapped whole, under the lock) rather than a Ref.
  let state: { keys: ReadonlyArray<LoadedKey>; loadedAt: number } = {
    keys: yield* loadOrCreate,
    loadedAt: yield* Clock.currentTimeMillis
  }
  const setState = (keys: ReadonlyArray<LoadedKey>, loadedAt: number) =>
    Effect.sync(() => void (state = { keys, loadedAt }))

  const reload = Effect.gen(function*() {
    const keys = yield* loadOrCreate
    yield* setState(keys, yield* Clock.currentTimeMillis)
  }).pipe(lock.withPermits(1))

  const currentKey = Effect.sync(() => state.keys[state.keys.length - 1]!)

  const usable = <K extends SigningKey>(key: K | undefined, now: number) =>
    key !== undefined && (key.retiredAt === undefined || now - key.retiredAt < retention) ? key : undefined

  // When a miss last caused a reload. Kept apart from `state.loadedAt`: the periodic refresh must
  // not hold back the reload for a key rotated in since (its tokens would be refused meanwhile).
  let missReloadedAt = Number.NEGATIVE_INFINITY

  /** On a miss, reloads once (throttled): another process may have rotated. */
  const findAfterReload = Effect.fnUntraced(function*(kid: string, now: number) {
    if (now - missReloadedAt < throttle) return undefined
    missReloadedAt = now
    yield* reload.pipe(Effect.catch((error) => Effect.logWarning("Signing keyring reload failed", error.message)))
    return usable(state.keys.find((key) => key.kid === kid), now)
  })

  /** The usable key `kid`; the common case (a hit) takes no Effect steps beyond reading the clock. */
  const find = (kid: string): Effect.Effect<LoadedKey | undefined> =>
    Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const hit = state.keys.find((key) => key.kid === kid)
      return hit !== undefined ? Effect.succeed(usable(hit, now)) : findAfterReload(kid, now)
    })

  const signWith = (key: LoadedKey, data: string) => hmacSha256Base64Url(key.hmacKey, data)

  const verifyUnsafe = (kid: string, data: string, signature: string, now: number) => {
    const key = state.keys.find((key) => key.kid === kid)
    if (key === undefined) return undefined
    return usable(key, now) !== undefined && signatureMatches(signWith(key, data), signature)
  }

  const rotate = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const next = newKey(now)
    // Retire the current key, drop keys past retention, add the new one: in one store update.
    const stored = yield* store.update((current) => [
      ...current
        .filter((key) => usable(key, now))
        .map((key) => key.retiredAt === undefined ? { ...key, retiredAt: now } : key),
      next
    ])
    yield* setState(stored.map((key) => key === next ? next : load(key)), now)
    return next as SigningKey
  }).pipe(lock.withPermits(1))

  yield* reload.pipe(
    Effect.catch((error) => Effect.logWarning("Signing keyring refresh failed", error.message)),
    Effect.repeat(Schedule.spaced(Duration.millis(refreshEvery))),
    Effect.delay(Duration.millis(refreshEvery)),
    Effect.forkScoped
  )

  return SigningKeyring.of({
    current: currentKey,
    byId: (kid) => Effect.map(find(kid), Option.fromNullishOr),
    sign: (data) => Effect.map(currentKey, (key) => ({ kid: key.kid, signature: signWith(key, data) })),
    signUnsafe: (data) => {
      const key = state.keys[state.keys.length - 1]!
      const input = data(key.kid)
      return { data: input, signature: signWith(key, input) }
    },
    verify: (kid, data, signature) =>
      Effect.map(find(kid), (key) => key !== undefined && signatureMatches(signWith(key, data), signature)),
    verifyUnsafe,
    rotate,
    reload,
    list: Effect.sync(() => state.keys.map(describe))
  })
})

/** The keyring kept in the `ServerSecretStore`. */
export const make = (options: Options = {}) =>
  Effect.flatMap(
    KeyringStore.makeSecretStore,
    (store) => makeFromStore(options).pipe(Effect.provideService(KeyringStore.KeyringStore, store))
  )

/** The keyring over the `ServerSecretStore`. */
export const layer = (options: Options = {}) => Layer.effect(SigningKeyring, make(options))

/** The keyring over the `KeyringStore` provided (for example a database shared by several instances). */
export const layerFromStore = (options: Options = {}) => Layer.effect(SigningKeyring, makeFromStore(options))
