import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePathModule from "node:path"
import * as OwnedPath from "../src/OwnedPath.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"

const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)
const isRoot = process.getuid?.() === 0
const modeOf = (path: string) => NodeFs.lstatSync(path).mode & 0o777

/** A fresh 0700 directory, removed when the test ends. */
const scratch = Effect.flatMap(
  Effect.service(FileSystem.FileSystem),
  (fs) => fs.makeTempDirectoryScoped({ prefix: "gatehouse-owned-" })
)

const problem = (path: string, kind: OwnedPath.Kind) =>
  Effect.map(Effect.flip(OwnedPath.check(path, kind)), (error) => {
    assert.strictEqual(error._tag, "UnsafePathError")
    assert.strictEqual(error.path, path)
    assert.include(error.message, path)
    return error.problem
  })

describe("OwnedPath.check", () => {
  it.effect("a missing path is false; our own 0700 directory and 0600 file are true and untouched", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      assert.isFalse(yield* OwnedPath.check(NodePathModule.join(dir, "absent"), "file"))
      const file = NodePathModule.join(dir, "f")
      NodeFs.writeFileSync(file, "x", { mode: 0o600 })
      assert.isTrue(yield* OwnedPath.check(dir, "directory"))
      assert.isTrue(yield* OwnedPath.check(file, "file"))
      assert.strictEqual(modeOf(dir), 0o700)
      assert.strictEqual(modeOf(file), 0o600)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("a symbolic link is refused, whatever it points to, and its target is left alone", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const target = NodePathModule.join(dir, "target")
      NodeFs.writeFileSync(target, "x")
      NodeFs.chmodSync(target, 0o644)
      const link = NodePathModule.join(dir, "link")
      NodeFs.symlinkSync(target, link)
      assert.include(yield* problem(link, "file"), "symbolic link")
      NodeFs.symlinkSync(dir, NodePathModule.join(dir, "dirlink"))
      assert.include(yield* problem(NodePathModule.join(dir, "dirlink"), "directory"), "symbolic link")
      assert.strictEqual(modeOf(target), 0o644)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("the wrong type is refused", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      assert.include(yield* problem(dir, "file"), "not a regular file")
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("a directory others can write is refused with the chmod that fixes it, and left as it is", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      NodeFs.chmodSync(dir, 0o777)
      assert.match(yield* problem(dir, "directory"), /its group and other users \(mode 0777\).*chmod 700 '/)
      NodeFs.chmodSync(dir, 0o703)
      assert.match(yield* problem(dir, "directory"), /by other users \(mode 0703\)/)
      NodeFs.chmodSync(dir, 0o770)
      assert.match(yield* problem(dir, "directory"), /its group \(mode 0770\)/)
      assert.strictEqual(modeOf(dir), 0o770)
      NodeFs.chmodSync(dir, 0o700)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("a loose mode of ours is tightened: a 0755 directory to 0700, a 0666 file to 0600", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const file = NodePathModule.join(dir, "f")
      NodeFs.writeFileSync(file, "x")
      NodeFs.chmodSync(file, 0o666)
      NodeFs.chmodSync(dir, 0o755)
      assert.isTrue(yield* OwnedPath.check(dir, "directory"))
      assert.isTrue(yield* OwnedPath.check(file, "file"))
      assert.strictEqual(modeOf(dir), 0o700)
      assert.strictEqual(modeOf(file), 0o600)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect.skipIf(!isRoot)(
    "a path owned by another uid is refused (needs root to chown)",
    () =>
      Effect.gen(function*() {
        const dir = yield* scratch
        const file = NodePathModule.join(dir, "f")
        NodeFs.writeFileSync(file, "x", { mode: 0o600 })
        NodeFs.chownSync(file, 12345, 12345)
        assert.include(yield* problem(file, "file"), "owned by uid 12345, not by uid 0")
      }).pipe(Effect.scoped, Effect.provide(platform))
  )
})

describe("OwnedPath.requirePrivate", () => {
  const refusal = (path: string, kind: OwnedPath.Kind) =>
    Effect.map(Effect.flip(OwnedPath.requirePrivate(path, kind)), (error) => error.problem)

  it.effect("exactly 0700 / 0600 of ours passes; a missing path is false", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const file = NodePathModule.join(dir, "f")
      NodeFs.writeFileSync(file, "x", { mode: 0o600 })
      NodeFs.chmodSync(file, 0o600)
      assert.isTrue(yield* OwnedPath.requirePrivate(dir, "directory"))
      assert.isTrue(yield* OwnedPath.requirePrivate(file, "file"))
      assert.isFalse(yield* OwnedPath.requirePrivate(NodePathModule.join(dir, "absent"), "directory"))
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("any other mode is refused and left as it is (where check would tighten it)", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      for (const mode of [0o755, 0o750, 0o711, 0o500, 0o1700, 0o2700]) {
        NodeFs.chmodSync(dir, mode)
        assert.include(yield* refusal(dir, "directory"), `not exactly 0700`)
        assert.strictEqual(NodeFs.lstatSync(dir).mode & 0o7777, mode)
      }
      NodeFs.chmodSync(dir, 0o700)
      const file = NodePathModule.join(dir, "f")
      NodeFs.writeFileSync(file, "x")
      NodeFs.chmodSync(file, 0o640)
      assert.include(yield* refusal(file, "file"), "not exactly 0600")
      assert.strictEqual(modeOf(file), 0o640)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("a link or the wrong type is refused as check refuses it", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const link = NodePathModule.join(dir, "link")
      NodeFs.symlinkSync(dir, link)
      assert.include(yield* refusal(link, "directory"), "symbolic link")
      assert.include(yield* refusal(dir, "file"), "not a regular file")
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect.skipIf(!isRoot)("another owner is refused (needs root to chown)", () =>
    Effect.gen(function*() {
      const dir = yield* scratch
      const inner = NodePathModule.join(dir, "inner")
      NodeFs.mkdirSync(inner, { mode: 0o700 })
      NodeFs.chownSync(inner, 12345, 12345)
      assert.include(yield* refusal(inner, "directory"), "owned by uid 12345")
    }).pipe(Effect.scoped, Effect.provide(platform)))
})

describe("ServerSecretStore (files) over a state that is not ours", () => {
  const build = (stateDir: string) =>
    Effect.flatMap(Effect.service(ServerSecretStore.ServerSecretStore), (store) => store.list).pipe(
      Effect.provide(ServerSecretStore.layer({ stateDir }))
    )

  it.effect("a symlinked secrets/ is refused and the directory it points to is not chmod-ed or written", () =>
    Effect.gen(function*() {
      const stateDir = yield* scratch
      const elsewhere = yield* scratch
      NodeFs.chmodSync(elsewhere, 0o755)
      NodeFs.symlinkSync(elsewhere, NodePathModule.join(stateDir, "secrets"))
      const error = yield* Effect.flip(build(stateDir))
      assert.strictEqual(error._tag, "UnsafePathError")
      assert.strictEqual(modeOf(elsewhere), 0o755)
      assert.deepStrictEqual(NodeFs.readdirSync(elsewhere), [])
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("a world-writable state directory is refused before secrets/ is created", () =>
    Effect.gen(function*() {
      const stateDir = yield* scratch
      NodeFs.chmodSync(stateDir, 0o777)
      const error = yield* Effect.flip(build(stateDir))
      assert.strictEqual(error._tag, "UnsafePathError")
      assert.deepStrictEqual(NodeFs.readdirSync(stateDir), [])
      NodeFs.chmodSync(stateDir, 0o700)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("a loose secret file of ours is tightened to 0600; a symlinked one is refused", () =>
    Effect.gen(function*() {
      const stateDir = yield* scratch
      const secrets = NodePathModule.join(stateDir, "secrets")
      NodeFs.mkdirSync(secrets, { mode: 0o700 })
      NodeFs.writeFileSync(NodePathModule.join(secrets, "pepper.bin"), "x")
      NodeFs.chmodSync(NodePathModule.join(secrets, "pepper.bin"), 0o644)
      assert.deepStrictEqual(yield* build(stateDir), ["pepper"])
      assert.strictEqual(modeOf(NodePathModule.join(secrets, "pepper.bin")), 0o600)
      NodeFs.symlinkSync(NodePathModule.join(secrets, "pepper.bin"), NodePathModule.join(secrets, "other.bin"))
      const error = yield* Effect.flip(build(stateDir))
      assert.strictEqual(error._tag, "UnsafePathError")
      assert.include(error.message, "other.bin")
    }).pipe(Effect.scoped, Effect.provide(platform)))
})
