/**
 * A state directory that must be ours (issue 23): `gatehouse serve` and the `gatehouse` commands
 * refuse a state directory, `secrets/`, database or `server.json` that is a link, belongs to
 * another uid or is writable by others, and tighten a loose mode of their own; `server.json` is
 * never written through a link, and what is read from it must name an origin and our own process.
 * Real files, real modes; the tests that need another owner `chown` when they run as root.
 */
import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ServerFile from "../src/ServerFile.ts"
import { exited, gatehouse, pairingUrl, serve } from "./helpers.ts"

const isRoot = process.getuid?.() === 0
const stranger = 12345

const modeOf = (path: string) => Fs.lstatSync(path).mode & 0o777

/** Serves on `stateDir` and expects the start to be refused: exit 1, the path and `problem` in stderr. */
const refused = (stateDir: string, path: string, problem: RegExp) =>
  Effect.gen(function*() {
    const served = yield* serve(["--port", "0", "--state-dir", stateDir])
    const { code } = yield* exited(served)
    assert.strictEqual(code, 1, served.stdout())
    assert.include(served.stderr(), path)
    assert.match(served.stderr(), problem)
    assert.notInclude(served.stdout(), "Pairing URL:")
    assert.notMatch(served.stderr(), /^\s+at /m, "one line, no stack trace")
  })

/** A file of ours outside the state directory, to point a planted link at. */
const victim = (root: string, name: string) => {
  const path = Path.join(root, name)
  Fs.writeFileSync(path, "the owner's own file\n", { mode: 0o644 })
  Fs.chmodSync(path, 0o644)
  return path
}

const unchanged = (path: string) => {
  assert.strictEqual(Fs.readFileSync(path, "utf8"), "the owner's own file\n")
  assert.strictEqual(modeOf(path), 0o644)
}

describe("gatehouse serve refuses a state directory that is not ours", () => {
  it.live(
    "a world-writable state directory: refused, with the chmod that fixes it, and nothing written",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        Fs.chmodSync(stateDir, 0o777)
        yield* refused(stateDir, stateDir, /writable by its group and other users \(mode 0777\).*chmod 700/)
        assert.deepStrictEqual(Fs.readdirSync(stateDir), [])
        assert.strictEqual(modeOf(stateDir), 0o777, "left for its owner to look at")
      }),
    30_000
  )

  it.live("a group-writable secrets/ directory: refused", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      Fs.mkdirSync(Path.join(stateDir, "secrets"), { mode: 0o700 })
      Fs.chmodSync(Path.join(stateDir, "secrets"), 0o770)
      yield* refused(stateDir, Path.join(stateDir, "secrets"), /writable by its group \(mode 0770\)/)
    }), 30_000)

  it.live.skipIf(!isRoot)(
    "a state directory owned by another uid: refused (needs root to chown)",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        Fs.chownSync(stateDir, stranger, stranger)
        yield* refused(stateDir, stateDir, new RegExp(`owned by uid ${stranger}, not by uid 0`))
        assert.deepStrictEqual(Fs.readdirSync(stateDir), [])
      }),
    30_000
  )

  it.live.skipIf(!isRoot)(
    "a database owned by another uid: refused (needs root to chown)",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const database = Path.join(stateDir, "gatehouse.db")
        Fs.writeFileSync(database, "", { mode: 0o600 })
        Fs.chownSync(database, stranger, stranger)
        yield* refused(stateDir, database, new RegExp(`owned by uid ${stranger}`))
      }),
    30_000
  )

  it.live("a symlinked secrets/: refused, and the directory it points to untouched", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const elsewhere = yield* tempDirectory
      Fs.chmodSync(elsewhere, 0o755)
      Fs.writeFileSync(Path.join(elsewhere, "keep.txt"), "mine")
      Fs.symlinkSync(elsewhere, Path.join(stateDir, "secrets"))
      yield* refused(stateDir, Path.join(stateDir, "secrets"), /symbolic link/)
      assert.deepStrictEqual(Fs.readdirSync(elsewhere), ["keep.txt"])
      assert.strictEqual(modeOf(elsewhere), 0o755, "not chmod-ed through the link")
    }), 30_000)

  it.live("a symlinked gatehouse.db: refused, and its target unchanged", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const elsewhere = yield* tempDirectory
      const target = victim(elsewhere, "notes.txt")
      Fs.symlinkSync(target, Path.join(stateDir, "gatehouse.db"))
      yield* refused(stateDir, Path.join(stateDir, "gatehouse.db"), /symbolic link/)
      unchanged(target)
    }), 30_000)

  it.live("a symlinked server.json: refused, and its target unchanged", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const elsewhere = yield* tempDirectory
      const target = victim(elsewhere, "notes.txt")
      Fs.symlinkSync(target, Path.join(stateDir, "server.json"))
      yield* refused(stateDir, Path.join(stateDir, "server.json"), /symbolic link/)
      unchanged(target)
    }), 30_000)

  it.live(
    "a 0644 gatehouse.db of ours: tightened to 0600 with a log line, and the server starts",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        const database = Path.join(stateDir, "gatehouse.db")
        // An empty file is a new SQLite database.
        Fs.writeFileSync(database, "")
        Fs.chmodSync(database, 0o644)
        const served = yield* serve(["--port", "0", "--state-dir", stateDir])
        yield* pairingUrl(served)
        assert.strictEqual(modeOf(database), 0o600)
        assert.match(served.stdout() + served.stderr(), /Tightened .*gatehouse\.db from mode 0644 to 0600/)
        served.child.kill("SIGTERM")
        assert.strictEqual((yield* exited(served)).code, 0)
      }),
    30_000
  )
})

describe("server.json", () => {
  it.effect("is written by temp file and rename: a link planted at its name is replaced, its target unchanged", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const elsewhere = yield* tempDirectory
      const target = victim(elsewhere, "notes.txt")
      const file = Path.join(stateDir, "server.json")
      Fs.symlinkSync(target, file)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* ServerFile.announce(stateDir, "http://127.0.0.1:4000")
        assert.isTrue(Fs.lstatSync(file).isFile(), "a regular file now, not the link")
        assert.strictEqual(modeOf(file), 0o600)
        assert.deepStrictEqual(JSON.parse(Fs.readFileSync(file, "utf8")), {
          baseUrl: "http://127.0.0.1:4000",
          pid: process.pid
        })
        assert.deepStrictEqual(Fs.readdirSync(stateDir), ["server.json"], "no temp file left")
      }))
      unchanged(target)
      assert.isFalse(Fs.existsSync(file), "removed when the scope closes")
    }).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))))

  for (const forged of ["http://evil.example/path", "javascript:alert(1)//", "http://user:pw@127.0.0.1:1"]) {
    it.live(`a forged baseUrl ${JSON.stringify(forged)} is refused by gatehouse pair`, () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        // Our own live pid: the file looks like a running server's in every other way.
        Fs.writeFileSync(Path.join(stateDir, "server.json"), JSON.stringify({ baseUrl: forged, pid: process.pid }), {
          mode: 0o600
        })
        const result = yield* gatehouse(["pair", "--state-dir", stateDir])
        assert.strictEqual(result.code, 1, result.stdout)
        assert.include(result.stderr, "is not an origin")
        assert.include(result.stderr, Path.join(stateDir, "server.json"))
        assert.notInclude(result.stdout, "Pairing URL:")
        assert.notInclude(result.stdout, forged)
        // Refused before anything was written.
        assert.deepStrictEqual(Fs.readdirSync(stateDir), ["server.json"])
      }), 30_000)
  }

  it.live("a pid of another user is not our server", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      // As root `kill(pid, 0)` reaches everyone: a process of another uid; otherwise init (EPERM).
      const other = isRoot
        ? spawn("sleep", ["30"], { uid: stranger, gid: stranger, stdio: "ignore" })
        : undefined
      yield* Effect.addFinalizer(() => Effect.sync(() => other?.kill("SIGKILL")))
      const pid = other?.pid ?? 1
      Fs.writeFileSync(
        Path.join(stateDir, "server.json"),
        JSON.stringify({ baseUrl: "http://127.0.0.1:1", pid }),
        { mode: 0o600 }
      )
      const result = yield* gatehouse(["pair", "--state-dir", stateDir])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stderr, "No running server found")
      assert.match(result.stdout, /^Pairing URL: http:\/\/127\.0\.0\.1:3773\/pair#token=/m)
    }), 30_000)
})

describe("the gatehouse commands check the state before they write", () => {
  for (const command of [["pair"], ["sessions", "list"], ["keys", "rotate"], ["mcp", "list"]]) {
    it.live(`gatehouse ${command.join(" ")} refuses a world-writable state directory`, () =>
      Effect.gen(function*() {
        const stateDir = yield* tempDirectory
        Fs.chmodSync(stateDir, 0o777)
        const result = yield* gatehouse([...command, "--state-dir", stateDir])
        assert.strictEqual(result.code, 1, result.stdout)
        assert.include(result.stderr, stateDir)
        assert.include(result.stderr, "chmod 700")
        assert.deepStrictEqual(Fs.readdirSync(stateDir), [], "nothing written")
      }), 30_000)
  }
})
