/**
 * What a desktop shell's main process does to run a Gatehouse backend for its own window:
 *
 * 1. make a fresh bootstrap credential (random, never shown to anyone);
 * 2. launch the `gatehouse` bin itself with `--desktop-bootstrap-fd 3` and a pipe on descriptor 3;
 * 3. write the credential and a newline into that pipe (not argv, not the environment: other local
 *    processes can read those through /proc);
 * 4. wait for the `Gatehouse is listening on <url>` line: it is printed only once the server answers
 *    AND the credential is accepted, so the window can pair at once;
 * 5. load `<url>/pair#token=<credential>` in the window: the page exchanges it for a session cookie;
 * 6. on quit, SIGTERM the backend and wait for its exit (SIGKILL if it does not come in time).
 *
 * Plain Node: nothing here needs Effect, and a shell author can copy it as is.
 */
import { spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { fileURLToPath } from "node:url"

export interface LaunchOptions {
  /** The backend's state directory (its database and secrets; created 0700). */
  readonly stateDir: string
  /** The port to bind on 127.0.0.1; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /** The `gatehouse` bin; by default the one `@gatehouse-auth/server` exports. */
  readonly bin?: string | undefined
  /**
   * Node flags for the backend. By default this process's own (`process.execArgv`), so that
   * `--conditions=@gatehouse-auth/source` carries over in the workspace.
   */
  readonly nodeArgs?: ReadonlyArray<string> | undefined
  /**
   * The Node binary (default `process.execPath`). In Electron that is Electron itself: pass it with
   * `env: { ...process.env, ELECTRON_RUN_AS_NODE: "1" }`, or ship a Node binary and name it here.
   */
  readonly execPath?: string | undefined
  /** The backend's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv | undefined
  /** How long to wait for the backend to be ready (default 30 seconds). */
  readonly readyTimeoutMs?: number | undefined
  /** Where the backend's stderr goes (default: this process's stderr). */
  readonly onStderr?: ((text: string) => void) | undefined
}

export interface BackendExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface Backend {
  /** The backend's origin, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** The URL to load in the window: the `/pair` page with the credential in its fragment. */
  readonly pairWindowUrl: string
  /** The bootstrap credential (single use). Keep it out of logs. */
  readonly credential: string
  readonly pid: number
  /** Settles when the backend exits, for whatever reason. */
  readonly exited: Promise<BackendExit>
  /** SIGTERM, then wait up to `timeoutMs` (default 10 s) for the exit, then SIGKILL. */
  readonly stop: (timeoutMs?: number) => Promise<BackendExit>
}

/** Where Node resolution finds the bin: `src/bin.ts` in this workspace, `dist/bin.js` from npm. */
export const defaultBin = (): string => fileURLToPath(import.meta.resolve("@gatehouse-auth/server/bin"))

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/**
 * A desktop bootstrap credential: 32 Crockford base32 characters (160 bits). The server accepts 16
 * to 64 such characters; 32 divides 256, so `byte % 32` is unbiased.
 */
export const generateCredential = (): string => Array.from(randomBytes(32), (byte) => crockford[byte % 32]).join("")

/** The first line of the banner `gatehouse serve` prints once it is ready. */
const listening = /^Gatehouse is listening on (http:\/\/\S+) \(policy [a-z-]+\)/m

export const launchBackend = (options: LaunchOptions): Promise<Backend> => {
  const credential = generateCredential()
  const args = [
    ...(options.nodeArgs ?? process.execArgv),
    options.bin ?? defaultBin(),
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    String(options.port ?? 0),
    "--state-dir",
    options.stateDir,
    "--desktop-bootstrap-fd",
    "3"
  ]
  // fd 0: nothing; 1 and 2: pipes we read; 3: the pipe the credential goes through.
  const child = spawn(options.execPath ?? process.execPath, args, {
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe", "pipe"]
  })

  const exited = new Promise<BackendExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }))
    // Not started at all (no such executable): there will be no "exit".
    child.once("error", () => child.pid === undefined && resolve({ code: null, signal: null }))
  })

  const stop = async (timeoutMs = 10_000): Promise<BackendExit> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      void exited.then(() => clearTimeout(timer))
    }
    return exited
  }

  let stderr = ""
  const onStderr = options.onStderr ?? ((text: string) => process.stderr.write(text))
  child.stderr!.setEncoding("utf8").on("data", (text: string) => {
    stderr = (stderr + text).slice(-4096)
    onStderr(text)
  })

  // The credential, then end of input: the server reads one line and closes its end.
  const fd3 = child.stdio[3] as NodeJS.WritableStream
  fd3.on("error", () => {}) // EPIPE if the backend died first; its exit says why.
  fd3.end(`${credential}\n`)

  return new Promise<Backend>((resolve, reject) => {
    let stdout = ""
    let settled = false
    const settle = () => {
      settled = true
      clearTimeout(timer)
      child.stdout!.removeListener("data", onData)
      // From here on stdout is drained and dropped: the rest of the banner is the startup pairing
      // URL for other browsers, which the window does not need and a log should not keep.
      child.stdout!.resume()
    }
    const fail = (reason: string) => {
      if (settled) return
      settle()
      void stop(2_000)
      reject(new Error(`The backend did not start: ${reason}${stderr === "" ? "" : `\n${stderr.trimEnd()}`}`))
    }
    const onData = (text: string) => {
      stdout += text
      const match = listening.exec(stdout)
      if (match === null || settled) return
      settle()
      const url = match[1]!
      resolve({ url, pairWindowUrl: `${url}/pair#token=${credential}`, credential, pid: child.pid!, exited, stop })
    }
    const timer = setTimeout(() => fail("not ready in time"), options.readyTimeoutMs ?? 30_000)
    child.stdout!.setEncoding("utf8").on("data", onData)
    child.once("error", (error) => fail(error.message))
    void exited.then((exit) => fail(`it exited (code ${exit.code}, signal ${exit.signal})`))
  })
}
