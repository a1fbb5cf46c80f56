import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as KeyringStore from "../src/KeyringStore.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

/** A keyring over `store`, alive (with its background refresh) until the test's scope closes. */
const keyringOver = (store: ServerSecretStore.ServerSecretStoreShape, options: SigningKeyring.Options = {}) =>
  Layer.build(
    SigningKeyring.layer(options).pipe(
      Layer.provide(Layer.succeed(ServerSecretStore.ServerSecretStore, store))
    )
  ).pipe(Effect.map(Context.get(SigningKeyring.SigningKeyring)))

/** A fresh memory store (a new layer value each time: layers are memoised by identity). */
const withStore = Effect.suspend(() =>
  Effect.service(ServerSecretStore.ServerSecretStore).pipe(Effect.provide(ServerSecretStore.layerMemory()))
)

describe("SigningKeyring", () => {
  it.effect("creates a 256-bit key on first use and persists it", () =>
    Effect.gen(function*() {
      const store = yield* withStore
      const keyring = yield* keyringOver(store)
      const current = yield* keyring.current
      assert.strictEqual(Redacted.value(current.key).byteLength, 32)
      assert.deepStrictEqual(yield* store.list, [KeyringStore.secretName])
      const again = yield* keyringOver(store)
      assert.strictEqual((yield* again.current).kid, current.kid)
    }))

  it.effect("after rotate, a signature made before still verifies and new ones carry the new kid", () =>
    Effect.gen(function*() {
      const keyring = yield* keyringOver(yield* withStore)
      const before = yield* keyring.sign("payload")
      const rotated = yield* keyring.rotate
      assert.notStrictEqual(rotated.kid, before.kid)
      assert.isTrue(yield* keyring.verify(before.kid, "payload", before.signature))
      const after = yield* keyring.sign("payload")
      assert.strictEqual(after.kid, rotated.kid)
      assert.strictEqual((yield* keyring.current).kid, rotated.kid)
      assert.isTrue(yield* keyring.verify(after.kid, "payload", after.signature))
      // A signature is bound to its key: the old signature under the new kid fails.
      assert.isFalse(yield* keyring.verify(after.kid, "payload", before.signature))
      assert.isFalse(yield* keyring.verify(before.kid, "other payload", before.signature))
    }))

  it.effect("rejects an unknown key id", () =>
    Effect.gen(function*() {
      const keyring = yield* keyringOver(yield* withStore)
      const signed = yield* keyring.sign("payload")
      assert.isFalse(yield* keyring.verify("nosuchkid", "payload", signed.signature))
      assert.isTrue(Option.isNone(yield* keyring.byId("nosuchkid")))
    }))

  it.effect("a retired key verifies until its retention ends", () =>
    Effect.gen(function*() {
      const keyring = yield* keyringOver(yield* withStore, {
        retention: Duration.days(31),
        refreshInterval: Duration.days(1)
      })
      const old = yield* keyring.sign("x")
      yield* keyring.rotate
      yield* TestClock.adjust(Duration.toMillis(Duration.days(31)) - 1)
      assert.isTrue(yield* keyring.verify(old.kid, "x", old.signature))
      yield* TestClock.adjust(Duration.millis(1))
      assert.isFalse(yield* keyring.verify(old.kid, "x", old.signature))
      // The next rotation drops it from storage.
      yield* keyring.rotate
      assert.isFalse((yield* keyring.list).some((key) => key.kid === old.kid))
    }))

  it.effect("sees a rotation made by another process on an unknown kid (throttled reload)", () =>
    Effect.gen(function*() {
      const store = yield* withStore
      const serverA = yield* keyringOver(store, {
        reloadThrottle: Duration.seconds(5),
        refreshInterval: Duration.days(1)
      })
      const cli = yield* keyringOver(store)
      yield* cli.rotate
      const signed = yield* cli.sign("hello")
      // The first miss reloads at once.
      assert.isTrue(yield* serverA.verify(signed.kid, "hello", signed.signature))
      assert.strictEqual((yield* serverA.current).kid, signed.kid)
      // Misses reload at most once per throttle window (random key ids cannot hammer the store).
      yield* cli.rotate
      const next = yield* cli.sign("hello")
      yield* TestClock.adjust(Duration.millis(4999))
      assert.isFalse(yield* serverA.verify(next.kid, "hello", next.signature))
      yield* TestClock.adjust(Duration.millis(1))
      assert.isTrue(yield* serverA.verify(next.kid, "hello", next.signature))
    }))

  it.effect("the background refresh does not hold back the reload for a key rotated in since", () =>
    Effect.gen(function*() {
      const store = yield* withStore
      const serverB = yield* keyringOver(store, {
        reloadThrottle: Duration.seconds(5),
        refreshInterval: Duration.seconds(1)
      })
      const cli = yield* keyringOver(store)
      yield* TestClock.adjust(Duration.seconds(1)) // B refreshes: nothing new
      yield* TestClock.adjust(Duration.millis(300))
      yield* cli.rotate
      const signed = yield* cli.sign("hello")
      // 300 ms after B's refresh, a token on the new key already verifies.
      assert.isTrue(yield* serverB.verify(signed.kid, "hello", signed.signature))
    }))

  it.effect("picks up another process's rotation in the background", () =>
    Effect.gen(function*() {
      const store = yield* withStore
      const serverA = yield* keyringOver(store, { refreshInterval: Duration.minutes(1) })
      const cli = yield* keyringOver(store)
      const rotated = yield* cli.rotate
      assert.notStrictEqual((yield* serverA.current).kid, rotated.kid)
      yield* TestClock.adjust(Duration.minutes(1))
      assert.strictEqual((yield* serverA.current).kid, rotated.kid)
    }))

  it.effect("a raw key from the environment is one key with a derived id; rotation is refused", () =>
    Effect.gen(function*() {
      const raw = Buffer.alloc(32, 7)
      const environment = ConfigProvider.layer(ConfigProvider.fromEnv({
        env: { GATEHOUSE_SECRET_SIGNING_KEYRING: raw.toString("base64url") }
      }))
      const store = yield* withStore
      const [first, second] = yield* Effect.all([keyringOver(store), keyringOver(store)]).pipe(
        Effect.provide(environment)
      )
      const key = yield* first.current
      assert.strictEqual(key.kid, (yield* second.current).kid)
      assert.deepStrictEqual(Buffer.from(Redacted.value(key.key)), raw)
      const error = yield* Effect.flip(first.rotate).pipe(Effect.provide(environment))
      assert.strictEqual(error._tag, "KeyringError")
      assert.include(error.message, "GATEHOUSE_SECRET_SIGNING_KEYRING")
      // Nothing was written to the store.
      assert.deepStrictEqual(yield* store.list, [])
    }))

  it.effect("refuses a key shorter than 256 bits", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(keyringOver(yield* withStore)).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
          env: { GATEHOUSE_SECRET_SIGNING_KEYRING: Buffer.alloc(16, 1).toString("base64url") }
        })))
      )
      assert.strictEqual(error._tag, "KeyringError")
      assert.include(error.message, "32 bytes")
    }))

  it.effect("hosted mode without a keyring fails, naming the variable", () =>
    Effect.gen(function*() {
      const store = yield* Effect.service(ServerSecretStore.ServerSecretStore).pipe(
        Effect.provide(ServerSecretStore.layerMemory({ hosted: true }))
      )
      const error = yield* Effect.flip(keyringOver(store))
      assert.strictEqual(error._tag, "SecretGenerationForbidden")
      assert.include(error.message, "GATEHOUSE_SECRET_SIGNING_KEYRING")
    }))
})
