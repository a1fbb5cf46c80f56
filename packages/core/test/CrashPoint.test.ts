/**
 * The secret store killed (`SIGKILL`, through the test-only `GATEHOUSE_TEST_CRASH_POINT`) at each
 * step of a write, in a child process: what is left on disk is the old secret or the new one,
 * complete, 0600, and the next start removes the temp file the kill left.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Option, Redacted } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as AtomicFile from "../src/AtomicFile.ts"
import * as CrashPoint from "../src/CrashPoint.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"

const fixture = Path.join(import.meta.dirname, "fixtures", "secret-write.ts")
const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)
const modeOf = (path: string) => Fs.statSync(path).mode & 0o777
const oldValue = "11".repeat(32)
const newValue = "22".repeat(32)

/** Runs the fixture to its end (20 s at most): its exit code and signal. */
const write = (stateDir: string, operation: "create" | "set", hex: string, crashPoint: string | undefined) =>
  Effect.promise(() =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const env = { ...process.env }
      delete env[CrashPoint.variable]
      if (crashPoint !== undefined) env[CrashPoint.variable] = crashPoint
      const child = spawn(process.execPath, [fixture, stateDir, operation, hex], {
        env,
        stdio: "ignore",
        timeout: 20_000
      })
      child.once("error", reject)
      child.once("exit", (code, signal) => resolve({ code, signal }))
    })
  )

const temps = (stateDir: string) =>
  Fs.readdirSync(Path.join(stateDir, "secrets")).filter((name) => AtomicFile.tempOwner(name) !== undefined)

/** The stored secret after a (new) start of the store, which also removes stale temps. */
const restart = (stateDir: string) =>
  Effect.gen(function*() {
    const store = yield* ServerSecretStore.ServerSecretStore
    return Option.map(yield* store.get("key"), (value) => Buffer.from(Redacted.value(value)).toString("hex"))
  }).pipe(Effect.provide(ServerSecretStore.layer({ stateDir })), Effect.provide(platform))

const cases = [
  { operation: "create", moment: "after-temp-write", before: undefined, after: undefined },
  { operation: "create", moment: "after-fsync", before: undefined, after: undefined },
  { operation: "create", moment: "after-link", before: undefined, after: newValue },
  { operation: "create", moment: "after-dir-fsync", before: undefined, after: newValue },
  { operation: "set", moment: "after-temp-write", before: oldValue, after: oldValue },
  { operation: "set", moment: "after-fsync", before: oldValue, after: oldValue },
  { operation: "set", moment: "after-rename", before: oldValue, after: newValue },
  { operation: "set", moment: "after-dir-fsync", before: oldValue, after: newValue }
] as const

describe("the secret store killed at each step of a write", () => {
  for (const { after, before, moment, operation } of cases) {
    it.effect(
      `${operation}, killed ${moment}: the secret is ${
        after === undefined ? "absent" : after === before ? "the old one" : "the new one"
      }, whole`,
      () =>
        Effect.gen(function*() {
          const stateDir = Path.join(yield* tempDirectory, "state")
          if (before !== undefined) assert.strictEqual((yield* write(stateDir, "create", before, undefined)).code, 0)
          const killed = yield* write(stateDir, operation, newValue, `secret:${moment}`)
          assert.strictEqual(killed.signal, "SIGKILL", `exit ${killed.code}`)
          const file = Path.join(stateDir, "secrets", "key.bin")
          // Until the rename or link the name holds what it held; from then on the new bytes, whole.
          const onDisk = Fs.existsSync(file) ? Fs.readFileSync(file).toString("hex") : undefined
          assert.strictEqual(onDisk, after)
          // A kill before the rename, or between the link and the temp's removal, leaves the temp;
          // the next start removes it.
          const tempLeft = moment === "after-temp-write" || moment === "after-fsync" || moment === "after-link"
          assert.strictEqual(temps(stateDir).length, tempLeft ? 1 : 0)
          assert.deepStrictEqual(yield* restart(stateDir), Option.fromNullishOr(after))
          assert.deepStrictEqual(temps(stateDir), [])
          assert.strictEqual(modeOf(Path.join(stateDir, "secrets")), 0o700)
          if (after !== undefined) assert.strictEqual(modeOf(file), 0o600)
        }).pipe(Effect.scoped),
      30_000
    )
  }

  it.effect("a crash point that names no step reached, or no variable, changes nothing", () =>
    Effect.gen(function*() {
      const stateDir = Path.join(yield* tempDirectory, "state")
      assert.strictEqual((yield* write(stateDir, "create", oldValue, "secret:after-rename")).code, 0)
      assert.strictEqual((yield* write(stateDir, "set", newValue, "server-json:after-rename")).code, 0)
      assert.deepStrictEqual(yield* restart(stateDir), Option.some(newValue))
      assert.strictEqual((yield* write(stateDir, "set", oldValue, undefined)).code, 0)
      assert.deepStrictEqual(yield* restart(stateDir), Option.some(oldValue))
    }).pipe(Effect.scoped), 30_000)
})
