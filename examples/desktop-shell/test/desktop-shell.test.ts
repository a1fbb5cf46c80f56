/**
 * The example end to end: `launchBackend` starts the real bin with the credential on fd 3, headless
 * Chromium plays the shell's window and pairs through `/pair#token=...`, and closing the window
 * stops the backend with SIGTERM (exit 0). Then `src/main.ts` itself, as a child process: it
 * prints the window URL and stops the backend on SIGTERM.
 *
 * Without /usr/bin/chromium the browser test is skipped locally (with a note) and FAILS under
 * CI=true, like the server's browser tests.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { chromium } from "playwright-core"
import { type Backend, launchBackend } from "../src/backend.ts"

// A name that exists inside the page: page.evaluate callbacks run there, not in Node.
declare const location: { href: string }

const executablePath = "/usr/bin/chromium"
const available = Fs.existsSync(executablePath)
const inCi = process.env.CI === "true" || process.env.CI === "1"
if (!available && !inCi) {
  console.warn(`Skipping the desktop-shell window test: ${executablePath} not found (apt-get install chromium).`)
}

/** The part of `GET /api/auth/session` and the bootstrap responses this test reads. */
interface SessionState {
  readonly authenticated: boolean
  readonly session: { readonly method: string; readonly subject: string; readonly scopes: Array<string> }
  readonly auth: { readonly policy: string }
}

/** What the workspace's own `node` runs with: `@gatehouse-auth/*` resolve to their sources. */
const nodeArgs = ["--conditions=@gatehouse-auth/source"]

const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "desktop-shell-test-"))),
  (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))
)

/** The backend, stopped (SIGTERM, SIGKILL after 5 s) in the finalizer if the test did not. */
const backend = (stateDir: string) =>
  Effect.acquireRelease(
    Effect.promise(() => launchBackend({ stateDir, nodeArgs, readyTimeoutMs: 30_000 })),
    (backend) => Effect.promise(() => backend.stop(5_000))
  )

const within = <A>(what: string, millis: number, promise: () => Promise<A>) =>
  Effect.promise(promise).pipe(
    Effect.timeoutOrElse({ duration: millis, orElse: () => Effect.die(new Error(`${what}: not within ${millis} ms`)) })
  )

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const bearerBootstrap = (backend: Pick<Backend, "url">, credential: string) =>
  within("bootstrap", 10_000, () =>
    fetch(`${backend.url}/api/auth/bootstrap/bearer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ credential })
    }))

describe.skipIf(!available && !inCi)("the desktop shell's window", () => {
  it.live("Chromium is installed", () =>
    Effect.sync(() => assert.isTrue(available, `${executablePath} is missing: apt-get install chromium`)))

  it.live("pairs with the credential from fd 3; closing it stops the backend with SIGTERM, exit 0", () =>
    Effect.gen(function*() {
      const server = yield* backend(Path.join(yield* tempDirectory, "state"))
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.match(server.credential, /^[0-9A-HJKMNP-TV-Z]{32}$/)
      assert.strictEqual(server.pairWindowUrl, `${server.url}/pair#token=${server.credential}`)

      const browser = yield* Effect.acquireRelease(
        within("Chromium", 30_000, () =>
          chromium.launch({
            executablePath,
            args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
            timeout: 30_000
          })),
        (browser) => Effect.promise(() => browser.close())
      )
      const window = yield* within("a page", 15_000, () => browser.newPage())
      window.setDefaultTimeout(15_000)
      // As in a shell: closing the window stops the backend.
      let stopped: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined
      window.once("close", () => (stopped = server.stop(10_000)))

      yield* within("the window to load", 15_000, () => window.goto(server.pairWindowUrl))
      yield* within("the paired view", 15_000, () => window.waitForSelector("#paired-view:not([hidden])"))
      assert.notInclude(yield* Effect.promise(() => window.evaluate(() => location.href)), server.credential)

      // The window itself is now authenticated: its own request carries its session cookie.
      const state = yield* Effect.promise(() =>
        window.evaluate(() =>
          fetch("/api/auth/session", { credentials: "same-origin" }).then((response) =>
            response.json() as Promise<SessionState>
          )
        )
      )
      assert.strictEqual(state.authenticated, true)
      assert.strictEqual(state.session.method, "desktop")
      assert.strictEqual(state.session.subject, "owner")
      assert.strictEqual(state.auth.policy, "desktop-managed-local")
      assert.includeMembers(state.session.scopes, ["read:access", "write:access"])

      // The credential was single use: nobody else can pair with it now.
      assert.strictEqual((yield* bearerBootstrap(server, server.credential)).status, 401)

      yield* within("the window to close", 15_000, () => window.close())
      assert.isDefined(stopped)
      const exit = yield* within("the backend to exit", 15_000, () => stopped!)
      assert.deepStrictEqual(exit, { code: 0, signal: null })
      assert.isFalse(isAlive(server.pid))
      const after = yield* Effect.exit(within("a request", 5_000, () => fetch(`${server.url}/api/auth/session`)))
      assert.strictEqual(after._tag, "Failure", "nothing listens any more")
    }))
})

describe("launchBackend", () => {
  it.live("a backend that cannot start: the promise rejects with its one-line reason", () =>
    Effect.gen(function*() {
      const taken = yield* Effect.acquireRelease(
        within("a listener", 5_000, () =>
          new Promise<Net.Server>((resolve) => {
            const server = Net.createServer().listen(0, "127.0.0.1", () => resolve(server))
          })),
        (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const port = (taken.address() as Net.AddressInfo).port
      const stateDir = Path.join(yield* tempDirectory, "state")
      const failure = yield* within("the failure", 30_000, () =>
        launchBackend({ stateDir, port, nodeArgs, onStderr: () => {} }).then(
          (backend) =>
            backend.stop().then(() =>
              assert.fail("it started")
            ),
          (error: Error) => error
        ))
      assert.match(failure.message, /^The backend did not start: it exited \(code 1, signal null\)/)
      assert.match(failure.message, /the port is in use/)
    }))

  it.live("stop(): a backend that ignores SIGTERM is SIGKILLed after the timeout", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      // A stand-in bin that says it is ready and then ignores SIGTERM.
      const bin = Path.join(directory, "stubborn.mjs")
      Fs.writeFileSync(
        bin,
        [
          `process.on("SIGTERM", () => {})`,
          `console.log("Gatehouse is listening on http://127.0.0.1:9 (policy desktop-managed-local).")`,
          `setInterval(() => {}, 1000)`
        ].join("\n")
      )
      const stubborn = yield* Effect.acquireRelease(
        Effect.promise(() => launchBackend({ stateDir: directory, bin, nodeArgs: [], readyTimeoutMs: 10_000 })),
        (backend) => Effect.sync(() => isAlive(backend.pid) && process.kill(backend.pid, "SIGKILL"))
      )
      const started = Date.now()
      const exit = yield* within("the SIGKILL", 5_000, () => stubborn.stop(500))
      assert.deepStrictEqual(exit, { code: null, signal: "SIGKILL" })
      assert.isAtLeast(Date.now() - started, 450)
    }))
})

describe("src/main.ts", () => {
  it.live("prints the window URL; on SIGTERM it stops the backend and both exit 0", () =>
    Effect.gen(function*() {
      const stateDir = Path.join(yield* tempDirectory, "state")
      const main = Path.join(import.meta.dirname, "..", "src", "main.ts")
      // The backend is found by main's printed pid, to kill it too if main did not stop it.
      let backendPid: number | undefined
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, [...nodeArgs, main, "--state-dir", stateDir], { stdio: "pipe" })),
        (child) =>
          Effect.sync(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
            if (backendPid !== undefined && isAlive(backendPid)) process.kill(backendPid, "SIGKILL")
          })
      )
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal }))
      )
      let output = ""
      child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text))
      child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text))

      const printed = yield* within("the window URL", 30_000, async () => {
        for (;;) {
          const match = /pid (\d+)\)[\s\S]*^ {2}(http:\/\/127\.0\.0\.1:\d+)\/pair#token=([0-9A-Z]+)$/m.exec(output)
          if (match !== null) return { pid: Number(match[1]), url: match[2]!, credential: match[3]! }
          if (child.exitCode !== null) throw new Error(`main.ts exited:\n${output}`)
          await new Promise((resolve) => setTimeout(resolve, 25))
        }
      })
      backendPid = printed.pid
      assert.isTrue(isAlive(printed.pid))

      // The printed URL's credential pairs (here through the bearer flow, from Node).
      const exchanged = yield* bearerBootstrap(printed, printed.credential)
      assert.strictEqual(exchanged.status, 200)
      assert.strictEqual(
        (yield* Effect.promise(() => exchanged.json() as Promise<SessionState>)).session.method,
        "desktop"
      )

      child.kill("SIGTERM")
      assert.deepStrictEqual(yield* within("main.ts to exit", 20_000, () => exit), { code: 0, signal: null })
      assert.match(output, /The backend exited \(code 0, signal null\)/)
      assert.isFalse(isAlive(printed.pid))
    }))
})
