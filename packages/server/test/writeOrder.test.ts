/**
 * `server.json` reaches the disk in the order that survives a power loss (temp written and
 * fsync-ed, renamed over the file, directory fsync-ed), recorded through a `FileSystem` wrapping
 * Node's; a kill test cannot see this order, only its atomicity.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { AtomicFile } from "@gatehouse-auth/core"
import { type Operation, recordingFileSystem, tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ServerFile from "../src/ServerFile.ts"

describe("server.json write order", () => {
  it.effect("temp (wx, 0600), write, fsync, rename over server.json, directory fsync; removed at the end", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const target = Path.join(stateDir, "server.json")
      const log: Array<Operation> = []
      const recorded = Layer.mergeAll(
        recordingFileSystem(log).pipe(Layer.provide(NodeFileSystem.layer)),
        NodePath.layer
      )
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ServerFile.announce(stateDir, "http://127.0.0.1:3773")
        assert.deepStrictEqual(JSON.parse(Fs.readFileSync(target, "utf8")), {
          baseUrl: "http://127.0.0.1:3773",
          pid: process.pid
        })
      })).pipe(Effect.provide(recorded))
      const temp = log[0]!.path
      assert.isDefined(AtomicFile.tempOwner(Path.basename(temp)), temp)
      assert.strictEqual(Path.dirname(temp), stateDir)
      assert.deepStrictEqual(log, [
        { op: "open", path: temp, flag: "wx", mode: 0o600 },
        { op: "writeAll", path: temp },
        { op: "sync", path: temp },
        { op: "rename", path: temp, to: target },
        { op: "open", path: stateDir, flag: "r", mode: undefined },
        { op: "sync", path: stateDir },
        { op: "remove", path: target }
      ])
    }).pipe(Effect.scoped))
})
