/**
 * `AtomicFile`: what a write leaves on disk, which temp files a start removes, and the order of the
 * calls that makes a returned write survive a power loss (file fsync, then rename or link, then
 * directory fsync), recorded through a `FileSystem` that wraps Node's.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { type Operation, recordingFileSystem, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Option, Redacted } from "effect"
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as AtomicFile from "../src/AtomicFile.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"

const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)
const recorded = (log: Array<Operation>) =>
  Layer.mergeAll(recordingFileSystem(log).pipe(Layer.provide(NodeFileSystem.layer)), NodePath.layer)
const modeOf = (path: string) => Fs.statSync(path).mode & 0o777
const text = (value: string) => new TextEncoder().encode(value)
const isTemp = (path: string) => AtomicFile.tempOwner(Path.basename(path)) !== undefined

/** A pid that is certainly not running: one of a child that has exited. */
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!

/** The recorded calls with temp paths as `<temp>`, to compare with the expected order. */
const shape = (log: ReadonlyArray<Operation>, target: string) =>
  log.map((operation) => {
    const name = (path: string | undefined) =>
      path === undefined ? undefined : isTemp(path) ? "<temp>" : path === target ? "<target>" : path
    return [operation.op, name(operation.path), name(operation.to)].filter((part) => part !== undefined).join(" ")
  })

describe("AtomicFile", () => {
  it.effect("replace writes a 0600 file, replaces the old content whole, leaves no temp", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const target = Path.join(directory, "server.json")
      yield* AtomicFile.replace(target, text("first"), { crashPoint: "test" })
      assert.strictEqual(Fs.readFileSync(target, "utf8"), "first")
      assert.strictEqual(modeOf(target), 0o600)
      yield* AtomicFile.replace(target, text("second"), { crashPoint: "test" })
      assert.strictEqual(Fs.readFileSync(target, "utf8"), "second")
      assert.deepStrictEqual(Fs.readdirSync(directory), ["server.json"])
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("create publishes once: a second create is false and the first bytes stay; no temp remains", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const target = Path.join(directory, "key.bin")
      assert.isTrue(yield* AtomicFile.create(target, text("winner"), { crashPoint: "test" }))
      assert.isFalse(yield* AtomicFile.create(target, text("loser"), { crashPoint: "test" }))
      assert.strictEqual(Fs.readFileSync(target, "utf8"), "winner")
      assert.strictEqual(modeOf(target), 0o600)
      assert.strictEqual(Number(Fs.statSync(target).nlink), 1, "the temp name is gone")
      assert.deepStrictEqual(Fs.readdirSync(directory), ["key.bin"])
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("the temp is opened O_EXCL (wx) with mode 0600: never through a planted name, never readable by others", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const log: Array<Operation> = []
      yield* AtomicFile.replace(Path.join(directory, "a"), text("x"), { crashPoint: "test" }).pipe(
        Effect.provide(recorded(log))
      )
      const opened = log.find((operation) => operation.op === "open" && isTemp(operation.path))!
      assert.strictEqual(opened.flag, "wx")
      assert.strictEqual(opened.mode, 0o600)
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("removeStale removes the temps of dead writers only", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const dead = deadPid()
      const stale = `.key.bin.${dead}-0123456789abcdef.tmp`
      const live = `.key.bin.${process.ppid}-0123456789abcdef.tmp`
      const mine = `.key.bin.${process.pid}-0123456789abcdef.tmp`
      for (const name of [stale, live, mine, "key.bin", ".key.bin.tmp", `.x.${dead}-short.tmp`]) {
        Fs.writeFileSync(Path.join(directory, name), "")
      }
      const removed = yield* AtomicFile.removeStale(directory)
      assert.deepStrictEqual(removed, [Path.join(directory, stale)])
      assert.sameMembers(Fs.readdirSync(directory), [live, mine, "key.bin", ".key.bin.tmp", `.x.${dead}-short.tmp`])
    }).pipe(Effect.scoped, Effect.provide(platform)))
})

describe("write order (recorded FileSystem)", () => {
  it.effect("replace: temp opened, written, fsync-ed, renamed over the target, then the directory fsync-ed", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const target = Path.join(directory, "server.json")
      const log: Array<Operation> = []
      yield* AtomicFile.replace(target, text("{}"), { crashPoint: "test" }).pipe(Effect.provide(recorded(log)))
      assert.deepStrictEqual(shape(log, target), [
        "open <temp>",
        "writeAll <temp>",
        "sync <temp>",
        "rename <temp> <target>",
        `open ${directory}`,
        `sync ${directory}`
      ])
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("create: temp written and fsync-ed, linked to the target, temp removed, then the directory fsync-ed", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const target = Path.join(directory, "key.bin")
      const log: Array<Operation> = []
      yield* AtomicFile.create(target, text("k"), { crashPoint: "test" }).pipe(Effect.provide(recorded(log)))
      assert.deepStrictEqual(shape(log, target), [
        "open <temp>",
        "writeAll <temp>",
        "sync <temp>",
        "link <temp> <target>",
        "remove <temp>",
        `open ${directory}`,
        `sync ${directory}`
      ])
    }).pipe(Effect.scoped, Effect.provide(platform)))

  it.effect("the secret store writes in that order: first-start create by link, set by rename", () =>
    Effect.gen(function*() {
      const stateDir = Path.join(yield* tempDirectory, "state")
      const log: Array<Operation> = []
      const target = Path.join(stateDir, "secrets", "pepper.bin")
      yield* Effect.gen(function*() {
        const store = yield* ServerSecretStore.ServerSecretStore
        log.length = 0
        yield* store.getOrCreateRandom("pepper", 32)
        const created = shape(log, target)
        log.length = 0
        yield* store.set("pepper", Redacted.make(new Uint8Array(32).fill(7)))
        const replaced = shape(log, target)
        const secrets = Path.join(stateDir, "secrets")
        assert.deepStrictEqual(created, [
          "open <temp>",
          "writeAll <temp>",
          "sync <temp>",
          "link <temp> <target>",
          "remove <temp>",
          `open ${secrets}`,
          `sync ${secrets}`
        ])
        assert.deepStrictEqual(replaced, [
          "open <temp>",
          "writeAll <temp>",
          "sync <temp>",
          "rename <temp> <target>",
          `open ${secrets}`,
          `sync ${secrets}`
        ])
        assert.isTrue(Option.isSome(yield* store.get("pepper")))
      }).pipe(Effect.provide(ServerSecretStore.layer({ stateDir }).pipe(Layer.provide(recorded(log)))))
    }).pipe(Effect.scoped, Effect.provide(platform)))
})
