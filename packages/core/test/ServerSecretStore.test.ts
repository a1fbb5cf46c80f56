import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, FileSystem, Layer, Option, Redacted } from "effect"
import { PlatformError, SystemError } from "effect/PlatformError"
import { execFile, spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePathModule from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"

const run = promisify(execFile)
const here = NodePathModule.dirname(fileURLToPath(import.meta.url))
const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)

const modeOf = (path: string) => NodeFs.statSync(path).mode & 0o777
const bytes = (...values: Array<number>) => Redacted.make(Uint8Array.from(values))
const hex = (secret: Redacted.Redacted<Uint8Array>) => Buffer.from(Redacted.value(secret)).toString("hex")

/** A fresh state directory (removed when the test ends) and a file store over it. */
const withFileStore = <A, E>(
  body: (store: ServerSecretStore.ServerSecretStoreShape, stateDir: string) => Effect.Effect<A, E>,
  options: ServerSecretStore.Options & { readonly fileSystem?: Layer.Layer<FileSystem.FileSystem> } = {}
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const root = yield* fs.makeTempDirectoryScoped({ prefix: "gatehouse-secrets-" })
    const stateDir = NodePathModule.join(root, "state")
    const storeLayer = ServerSecretStore.layer({ ...options, stateDir }).pipe(
      Layer.provide(Layer.mergeAll(options.fileSystem ?? NodeFileSystem.layer, NodePath.layer))
    )
    return yield* Effect.flatMap(Effect.service(ServerSecretStore.ServerSecretStore), (store) => body(store, stateDir))
      .pipe(
        Effect.provide(storeLayer)
      )
  }).pipe(Effect.scoped, Effect.provide(platform))

const secretFiles = (stateDir: string) => NodeFs.readdirSync(NodePathModule.join(stateDir, "secrets")).sort()

/** A FileSystem that behaves like Node's but fails the chosen operation. */
const failing = (operation: "writeAll" | "rename") =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(Effect.service(FileSystem.FileSystem), (fs) => {
      const injected = (method: string) =>
        new PlatformError(new SystemError({ _tag: "WriteZero", module: "FileSystem", method, description: "injected" }))
      return FileSystem.FileSystem.of({
        ...fs,
        open: (path, options) =>
          Effect.map(fs.open(path, options), (file) =>
            operation === "writeAll"
              ? Object.create(file, { writeAll: { value: () => Effect.fail(injected("writeAll")) } })
              : file),
        rename: (from, to) => operation === "rename" ? Effect.fail(injected("rename")) : fs.rename(from, to)
      })
    })
  ).pipe(Layer.provide(NodeFileSystem.layer))

describe("ServerSecretStore (files)", () => {
  it.effect("creates the directory 0700 and the file 0600 on create", () =>
    withFileStore((store, stateDir) =>
      Effect.gen(function*() {
        yield* store.create("pepper", bytes(1, 2, 3))
        assert.strictEqual(modeOf(stateDir), 0o700)
        assert.strictEqual(modeOf(NodePathModule.join(stateDir, "secrets")), 0o700)
        assert.strictEqual(modeOf(NodePathModule.join(stateDir, "secrets", "pepper.bin")), 0o600)
        assert.deepStrictEqual(secretFiles(stateDir), ["pepper.bin"])
        const read = yield* store.get("pepper")
        assert.strictEqual(Option.map(read, hex).pipe(Option.getOrThrow), "010203")
      })
    ))

  it.effect("keeps 0600 after set, replaces the value and leaves no temp file", () =>
    withFileStore((store, stateDir) =>
      Effect.gen(function*() {
        yield* store.set("pepper", bytes(1))
        assert.strictEqual(modeOf(NodePathModule.join(stateDir, "secrets", "pepper.bin")), 0o600)
        yield* store.set("pepper", bytes(9, 9))
        assert.strictEqual(modeOf(NodePathModule.join(stateDir, "secrets", "pepper.bin")), 0o600)
        assert.strictEqual(hex(Option.getOrThrow(yield* store.get("pepper"))), "0909")
        assert.deepStrictEqual(secretFiles(stateDir), ["pepper.bin"])
      })
    ))

  it.effect("tightens an existing, too open secrets directory", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const root = yield* fs.makeTempDirectoryScoped()
      NodeFs.mkdirSync(NodePathModule.join(root, "secrets"), { mode: 0o755 })
      NodeFs.chmodSync(NodePathModule.join(root, "secrets"), 0o755)
      yield* Effect.provide(
        Effect.service(ServerSecretStore.ServerSecretStore),
        ServerSecretStore.layer({ stateDir: root })
      )
      assert.strictEqual(modeOf(NodePathModule.join(root, "secrets")), 0o700)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  for (const [what, content] of [["empty", Buffer.alloc(0)], ["short", Buffer.alloc(5, 1)]] as const) {
    it.effect(`an ${what} stored secret is UnusableSecret naming the file, and is never regenerated`, () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const stateDir = yield* fs.makeTempDirectoryScoped()
        const file = NodePathModule.join(stateDir, "secrets", "pepper.bin")
        NodeFs.mkdirSync(NodePathModule.dirname(file), { mode: 0o700 })
        NodeFs.writeFileSync(file, content, { mode: 0o600 })
        const error = yield* Effect.flip(Effect.provide(
          Effect.flatMap(
            Effect.service(ServerSecretStore.ServerSecretStore),
            (store) => store.getOrCreateRandom("pepper", 32)
          ),
          ServerSecretStore.layer({ stateDir })
        ))
        assert.strictEqual(error._tag, "UnusableSecret")
        assert.include(error.message, file)
        assert.include(error.message, what === "empty" ? "it is empty" : "it holds 5 bytes, not 32")
        assert.deepStrictEqual(NodeFs.readFileSync(file), content, "left as it was")
      }).pipe(Effect.scoped, Effect.provide(platform)))
  }

  it.effect("a start removes the temp files a crash left, and keeps a live writer's", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const stateDir = yield* fs.makeTempDirectoryScoped()
      const secrets = NodePathModule.join(stateDir, "secrets")
      NodeFs.mkdirSync(secrets, { mode: 0o700 })
      const exited = spawnSync(process.execPath, ["-e", ""]).pid!
      const stale = `.pepper.bin.${exited}-00112233445566ff.tmp`
      const live = `.pepper.bin.${process.ppid}-00112233445566ff.tmp`
      NodeFs.writeFileSync(NodePathModule.join(secrets, stale), "half", { mode: 0o600 })
      NodeFs.writeFileSync(NodePathModule.join(secrets, live), "writing", { mode: 0o600 })
      yield* Effect.provide(Effect.service(ServerSecretStore.ServerSecretStore), ServerSecretStore.layer({ stateDir }))
      assert.deepStrictEqual(NodeFs.readdirSync(secrets), [live])
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("create refuses an existing name and keeps the first value", () =>
    withFileStore((store) =>
      Effect.gen(function*() {
        yield* store.create("pepper", bytes(1))
        const error = yield* Effect.flip(store.create("pepper", bytes(2)))
        assert.strictEqual(error._tag, "SecretAlreadyExists")
        assert.strictEqual(hex(Option.getOrThrow(yield* store.get("pepper"))), "01")
      })
    ))

  for (const operation of ["writeAll", "rename"] as const) {
    it.effect(`a failing ${operation} is a typed error; the old value stays and no temp file remains`, () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const root = yield* fs.makeTempDirectoryScoped()
        const good = ServerSecretStore.layer({ stateDir: root })
        const bad = ServerSecretStore.layer({ stateDir: root }).pipe(Layer.provide(failing(operation)))
        yield* Effect.flatMap(
          Effect.service(ServerSecretStore.ServerSecretStore),
          (store) => store.set("key", bytes(7))
        ).pipe(
          Effect.provide(good)
        )
        const exit = yield* Effect.flatMap(
          Effect.service(ServerSecretStore.ServerSecretStore),
          (store) => store.set("key", bytes(8))
        ).pipe(Effect.provide(bad), Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        const error = yield* Effect.flip(
          Effect.flatMap(Effect.service(ServerSecretStore.ServerSecretStore), (store) => store.set("key", bytes(8)))
            .pipe(Effect.provide(bad))
        )
        assert.strictEqual(error._tag, "SecretStoreError")
        assert.include(error.message, "\"key\"")
        const after = yield* Effect.flatMap(
          Effect.service(ServerSecretStore.ServerSecretStore),
          (store) => store.get("key")
        ).pipe(
          Effect.provide(good)
        )
        assert.strictEqual(hex(Option.getOrThrow(after)), "07")
        assert.deepStrictEqual(secretFiles(root), ["key.bin"])
      }).pipe(Effect.scoped, Effect.provide(platform)))
  }

  it.effect("200 concurrent getOrCreateRandom fibers all get one value", () =>
    withFileStore((store, stateDir) =>
      Effect.gen(function*() {
        const values = yield* Effect.forEach(
          Array.from({ length: 200 }),
          () => Effect.map(store.getOrCreateRandom("shared", 32), hex),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(values).size, 1)
        assert.strictEqual(values[0]!.length, 64)
        assert.deepStrictEqual(secretFiles(stateDir), ["shared.bin"])
      })
    ))

  it.effect("4 processes racing on an empty directory end with identical bytes", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const stateDir = NodePathModule.join(yield* fs.makeTempDirectoryScoped(), "state")
      const startAt = Date.now() + 1500
      const outputs = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 4 }, () =>
          run(process.execPath, [NodePathModule.join(here, "fixtures", "secret-race.ts"), stateDir, String(startAt)], {
            timeout: 20_000
          })))
      )
      const values = outputs.map(({ stdout }) =>
        stdout.trim()
      )
      assert.strictEqual(values.length, 4)
      assert.match(values[0]!, /^[0-9a-f]{64}$/)
      assert.strictEqual(new Set(values).size, 1)
      assert.strictEqual(
        NodeFs.readFileSync(NodePathModule.join(stateDir, "secrets", "race.bin")).toString("hex"),
        values[0]
      )
      assert.deepStrictEqual(secretFiles(stateDir), ["race.bin"])
    }).pipe(Effect.scoped, Effect.provide(platform)), 30_000)

  it.effect("remove deletes the file and is idempotent; list names stored secrets", () =>
    withFileStore((store, stateDir) =>
      Effect.gen(function*() {
        yield* store.set("b", bytes(1))
        yield* store.set("a.key", bytes(2))
        assert.deepStrictEqual(yield* store.list, ["a.key", "b"])
        yield* store.remove("b")
        yield* store.remove("b")
        assert.deepStrictEqual(yield* store.list, ["a.key"])
        assert.isTrue(Option.isNone(yield* store.get("b")))
        assert.deepStrictEqual(secretFiles(stateDir), ["a.key.bin"])
      })
    ))
})

const badNames = ["../x", "a/b", "", "a".repeat(65), "Upper", "nul\u0000byte", ".hidden", "-dash", "a b"]

const behaviours = (name: string, withStore: typeof withFileStore) =>
  describe(`ServerSecretStore (${name})`, () => {
    it.effect("rejects bad names with a typed error on every operation", () =>
      withStore((store) =>
        Effect.gen(function*() {
          for (const bad of badNames) {
            const errors = yield* Effect.all([
              Effect.flip(store.get(bad)),
              Effect.flip(store.set(bad, bytes(1))),
              Effect.flip(store.create(bad, bytes(1))),
              Effect.flip(store.getOrCreateRandom(bad, 32)),
              Effect.flip(store.remove(bad))
            ])
            for (const error of errors) assert.strictEqual(error._tag, "InvalidSecretName", JSON.stringify(bad))
          }
          assert.deepStrictEqual(yield* store.list, [])
          // 64 characters is the longest valid name.
          yield* store.set("a".repeat(64), bytes(1))
        })
      ))

    it.effect("the environment override wins over the stored value", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.set("pepper", bytes(1, 1))
          const fromEnv = yield* Effect.all([store.get("pepper"), store.getOrCreateRandom("pepper", 32)]).pipe(
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
              env: { GATEHOUSE_SECRET_PEPPER: Buffer.from([0xfb, 0xff]).toString("base64url") }
            })))
          )
          assert.strictEqual(hex(Option.getOrThrow(fromEnv[0])), "fbff")
          assert.strictEqual(hex(fromEnv[1]), "fbff")
          assert.strictEqual(hex(Option.getOrThrow(yield* store.get("pepper"))), "0101")
        })
      ))

    it.effect("an override that is not base64 is a typed error naming the variable", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(store.get("signing.key")).pipe(
            Effect.provide(
              ConfigProvider.layer(ConfigProvider.fromEnv({ env: { GATEHOUSE_SECRET_SIGNING_KEY: "not base64!" } }))
            )
          )
          assert.strictEqual(error._tag, "InvalidSecretOverride")
          assert.include(error.message, "GATEHOUSE_SECRET_SIGNING_KEY")
        })
      ))

    it.effect("hosted mode without the secret fails, naming the variable to set", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(store.getOrCreateRandom("guest-pepper", 32))
          assert.strictEqual(error._tag, "SecretGenerationForbidden")
          assert.include(error.message, "GATEHOUSE_SECRET_GUEST_PEPPER")
          assert.deepStrictEqual(yield* store.list, [])
          const provided = yield* store.getOrCreateRandom("guest-pepper", 32).pipe(
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
              env: { GATEHOUSE_SECRET_GUEST_PEPPER: Buffer.alloc(32, 5).toString("base64") }
            })))
          )
          assert.strictEqual(hex(provided), "05".repeat(32))
        }), { hosted: true }))
  })

behaviours("files", withFileStore)
behaviours(
  "memory",
  (body, options = {}) =>
    Effect.flatMap(Effect.service(ServerSecretStore.ServerSecretStore), (store) => body(store, "")).pipe(
      Effect.provide(ServerSecretStore.layerMemory(options))
    )
)
