/**
 * The same-user proof on the reference server: `gatehouse serve` (the bin, as a child process)
 * with the example local tool run against it, and the reference server bound to every address,
 * where a request from the machine's own non-loopback address is a peer that is not loopback.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Support from "@gatehouse-auth/testing/support"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { GatehouseServer } from "../src/index.ts"
import { pairingUrl, serve } from "./helpers.ts"

const example = Path.join(import.meta.dirname, "..", "examples", "local-tool.ts")

/** Runs the example with plain Node (no Gatehouse package, no conditions); 30 s at most. */
const runExample = (stateDir: string) =>
  Effect.promise(() =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [example, stateDir], { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.once("error", reject)
      child.once("exit", (code) => resolve({ code, stdout, stderr }))
    })
  )

/** The machine's first non-loopback IPv4 address, if it has one. */
const lanAddress = Object.values(Os.networkInterfaces()).flatMap((entries) => entries ?? []).find((entry) =>
  entry.family === "IPv4" && !entry.internal
)?.address

const refusal = {
  status: 401,
  text: JSON.stringify({ error: { code: "invalid_credential", message: "The local proof was not accepted" } })
}

describe("local proof on the reference server", () => {
  it.live("gatehouse serve: the example local tool signs in through $XDG_RUNTIME_DIR/gatehouse and calls /api/hello", () =>
    Effect.gen(function*() {
      const stateDir = yield* Support.tempDirectory
      const runtimeDir = yield* Support.tempDirectory
      const served = yield* serve(["--state-dir", stateDir, "--port", "0"], { env: { XDG_RUNTIME_DIR: runtimeDir } })
      yield* pairingUrl(served)
      const directory = Path.join(runtimeDir, "gatehouse")
      assert.strictEqual(Fs.lstatSync(directory).mode & 0o7777, 0o700)
      const run = yield* runExample(stateDir)
      assert.strictEqual(run.code, 0, `${run.stdout}\n${run.stderr}\nserver:\n${served.stderr()}`)
      assert.include(run.stdout, "Signed in as owner (read:hello write:hello read:runs write:tasks)")
      assert.include(run.stdout, `/api/hello: {"hello":"owner"}`)
      // Nothing is left behind, and the token was not printed.
      assert.deepStrictEqual(Fs.readdirSync(directory), [])
      assert.notMatch(run.stdout, /v1\./)
    }).pipe(Effect.scoped))

  it.live("gatehouse serve --disable-local-proof: no such routes", () =>
    Effect.gen(function*() {
      const stateDir = yield* Support.tempDirectory
      const served = yield* serve(["--state-dir", stateDir, "--port", "0", "--disable-local-proof"])
      const { port } = yield* pairingUrl(served)
      const response = yield* Support.postJson(port, "/api/auth/local-proof/challenge", {})
      assert.strictEqual(response.status, 404)
      assert.isFalse(Fs.existsSync(Path.join(stateDir, "run")))
    }).pipe(Effect.scoped))

  // A real peer that is not loopback: the server bound to every address, asked from this machine's
  // own network address (the kernel then reports that address as the peer). Without one, the HTTP
  // package's test covers the other way a peer is not loopback (a trusted proxy forwarding).
  it.live.skipIf(lanAddress === undefined)(
    "bound to 0.0.0.0: from 127.0.0.1 a challenge, from the machine's own network address the one refusal",
    () =>
      Effect.gen(function*() {
        const stateDir = yield* Support.tempDirectory
        const context = yield* Layer.build(GatehouseServer.layer({
          host: "0.0.0.0",
          port: 0,
          stateDir,
          localProof: { directory: Path.join(stateDir, "run") }
        }))
        const { info } = GatehouseServer.services(context)
        const local = yield* Support.postJson(info.port, "/api/auth/local-proof/challenge", {})
        assert.strictEqual(local.status, 200, local.text)
        assert.strictEqual(local.json.directory, Path.join(stateDir, "run"))
        const fileName = local.json.fileName as string
        Fs.writeFileSync(Path.join(stateDir, "run", fileName), local.json.nonce, { mode: 0o600 })
        for (const path of ["/api/auth/local-proof/challenge", "/api/auth/local-proof"]) {
          const remote = yield* Support.request(info.port, {
            method: "POST",
            path,
            address: lanAddress!,
            host: `${lanAddress}:${info.port}`,
            headers: Support.jsonHeaders,
            body: JSON.stringify({ fileName })
          })
          assert.deepStrictEqual({ status: remote.status, text: remote.text }, refusal)
        }
        // The remote attempt did not burn it: the local tool still redeems its challenge.
        const redeemed = yield* Support.postJson(info.port, "/api/auth/local-proof", { fileName })
        assert.strictEqual(redeemed.status, 200, redeemed.text)
        assert.strictEqual(redeemed.json.session.method, "local-proof")
      }).pipe(Effect.scoped)
  )

  it.live("localProof: false leaves the routes out", () =>
    Effect.gen(function*() {
      const stateDir = yield* Support.tempDirectory
      const context = yield* Layer.build(
        GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir, localProof: false })
      )
      const { info } = GatehouseServer.services(context)
      assert.strictEqual((yield* Support.postJson(info.port, "/api/auth/local-proof", { fileName: "x" })).status, 404)
    }).pipe(Effect.scoped))
})
