/**
 * Helpers for tests that run `gatehouse serve` as a child process (the bin itself, as a desktop
 * shell launches it) and talk to it over loopback. Every wait is bounded; every child is killed in
 * a finalizer.
 */
import * as Support from "@gatehouse-auth/testing/support"
import { Duration, Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"

export const bin = Path.join(import.meta.dirname, "..", "src", "bin.ts")

/** Node flags for a child that runs the workspace sources: `@gatehouse-auth/*` resolve to `src/`. */
export const nodeArgs = ["--conditions=@gatehouse-auth/source"]

export interface Served {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves with the exit code and signal. */
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

export interface ServeOptions {
  readonly env?: Record<string, string> | undefined
  /** Opens fd 3 as a pipe to the child (for `--desktop-bootstrap-fd 3`). */
  readonly fd3?: boolean | undefined
  readonly cwd?: string | undefined
}

/** Spawns `node bin.ts serve ...args`; the child is SIGKILLed in the finalizer if still running. */
export const serve = (args: ReadonlyArray<string>, options: ServeOptions = {}) =>
  Effect.acquireRelease(
    Effect.sync((): Served => {
      const child = spawn(process.execPath, [...nodeArgs, bin, "serve", ...args], {
        cwd: options.cwd ?? process.cwd(),
        env: { ...process.env, ...options.env },
        stdio: options.fd3 ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal }))
      )
      return { child, stdout: () => stdout, stderr: () => stderr, exit }
    }),
    (served) =>
      Effect.promise(async () => {
        if (served.child.exitCode === null && served.child.signalCode === null) {
          served.child.kill("SIGKILL")
          await served.exit
        }
      })
  )

/** Polls `read` until `pattern` matches, failing with what was seen after `timeout`. */
export const waitFor = (served: Served, pattern: RegExp, timeout: Duration.Input = "20 seconds") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    while (Date.now() < deadline) {
      const match = pattern.exec(served.stdout())
      if (match !== null) return match
      if (served.child.exitCode !== null || served.child.signalCode !== null) break
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(
      new Error(
        `Timed out waiting for ${pattern} (exit ${served.child.exitCode})\nstdout:\n${served.stdout()}\nstderr:\n${served.stderr()}`
      )
    )
  })

/** The exit of the child, failing after `timeout`. */
export const exited = (served: Served, timeout: Duration.Input = "15 seconds") =>
  Effect.promise(() => served.exit).pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error("The server did not exit in time")) })
  )

export const pairingUrlPattern = /^Pairing URL: (http:\/\/127\.0\.0\.1:(\d+)\/pair#token=([0-9A-Z]{16}))$/m

/** Waits for the `Pairing URL:` line and splits it. */
export const pairingUrl = (served: Served) =>
  Effect.map(waitFor(served, pairingUrlPattern), (match) => ({
    url: match[1]!,
    port: Number(match[2]),
    token: match[3]!,
    origin: `http://127.0.0.1:${match[2]}`
  }))

/**
 * One HTTP request to `url` over loopback, with a JSON `body` when one is given: the raw client of
 * `@gatehouse-auth/testing/support` with the Host header the URL names (unless `headers` set one).
 */
export const request = (
  url: string,
  options: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: unknown } = {}
) => {
  // Parsed as http.request parses a URL string (dot segments resolved, no fragment).
  const target = new URL(url)
  return Support.request(Number(target.port), {
    method: options.method ?? "GET",
    path: `${target.pathname}${target.search}`,
    host: target.host,
    headers: { ...(options.body === undefined ? {} : Support.jsonHeaders), ...options.headers },
    body: options.body === undefined ? undefined : JSON.stringify(options.body)
  })
}

/** Exchanges a credential through the bearer flow. */
export const bearerBootstrap = (origin: string, credential: string) =>
  request(`${origin}/api/auth/bootstrap/bearer`, { method: "POST", body: { credential } })

export interface OpenSocket {
  readonly socket: WebSocket
  readonly echoes: Array<string>
  /** Resolves with the close code. */
  readonly closed: Promise<number>
}

/** Opens `/ws` with a single-use ticket got with `token`; fails unless it opens within 10 s. */
export const openSocket = (origin: string, token: string) =>
  Effect.gen(function*() {
    const ticket = yield* request(`${origin}/api/auth/ws-ticket`, {
      method: "POST",
      headers: Support.bearer(token),
      body: {}
    })
    if (ticket.status !== 200) return yield* Effect.die(new Error(`ws-ticket: ${ticket.status} ${ticket.text}`))
    const socket = new WebSocket(`${origin.replace(/^http/, "ws")}/ws?wsTicket=${ticket.json.ticket}`)
    const echoes: Array<string> = []
    socket.addEventListener("message", (event) => echoes.push(String(event.data)))
    const closed = new Promise<number>((resolve) => socket.addEventListener("close", (event) => resolve(event.code)))
    yield* Effect.promise(() =>
      new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve())
        socket.addEventListener("error", () => reject(new Error("WebSocket failed to open")))
      })
    ).pipe(
      Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("WebSocket did not open")) })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => socket.close()))
    return { socket, echoes, closed } satisfies OpenSocket
  })

/** Waits until `predicate` holds, polling; dies after `timeout`. */
export const eventually = (predicate: () => boolean, what: string, timeout: Duration.Input = "10 seconds") =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(timeout))
    while (!predicate()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`Timed out waiting for ${what}`))
      yield* Effect.sleep("20 millis")
    }
  })

export interface CommandResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node bin.ts ...args` to completion (a `gatehouse` command beside a server); 30 s at most. */
export const gatehouse = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string> | undefined } = {}
) =>
  Effect.promise(() =>
    new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(process.execPath, [...nodeArgs, bin, ...args], {
        env: { ...process.env, ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
        timeout: 30_000
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      child.once("error", reject)
      child.once("exit", (code) => resolve({ code, stdout, stderr }))
    })
  )

/** Pairs through the bearer flow with `code` (asserting it works): the token and the session id. */
export const pairWith = (origin: string, code: string) =>
  Effect.flatMap(bearerBootstrap(origin, code), (exchanged) =>
    exchanged.status === 200
      ? Effect.succeed({ token: exchanged.json.accessToken as string, id: exchanged.json.session.id as string })
      : Effect.die(new Error(`bootstrap/bearer: ${exchanged.status} ${exchanged.text}`)))

/** The key id of a session token (`v1.<kid>.<claims>.<signature>`). */
export const keyIdOf = (token: string): string => token.split(".")[1]!
