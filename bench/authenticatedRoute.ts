/**
 * An authenticated route against the same route unauthenticated, served by ONE server over
 * loopback in one run: `GET /bench/open` and `GET /bench/authenticated` (session cookie, scope
 * `read:hello`) run the same handler. The load comes from a child process (bench/loadWorker.ts):
 * a bounded number of keep-alive requests per round, rounds interleaved by the harness.
 * Targets: authenticated >= 0.9x unauthenticated (throughput), and the same for the authenticated
 * route on a second server over SQLite stores (what `gatehouse serve` runs by default; issue 20).
 *
 * Also reported: the server process's CPU time per request on each route (the client's is not in
 * it). On a busy machine throughput swings with the neighbours; CPU per request much less so.
 *
 * `run()` measures in a fresh Node process: after the other benchmarks of `npm run bench` have
 * driven the same core code in a tight loop, V8's state skews a whole server (measured: ratio 0.49
 * in-process after bench/verify.ts against 0.75-0.82 alone).
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as BootstrapCredentialService from "../packages/core/src/BootstrapCredentialService.ts"
import * as ServerAuth from "../packages/core/src/ServerAuth.ts"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as SessionCredentialService from "../packages/core/src/SessionCredentialService.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import { HttpAuth, HttpAuthLayer } from "../packages/http/src/index.ts"
import { SqlStores } from "../packages/sql/src/index.ts"
import { compare, ratio, report, smoke } from "./harness.ts"
import type { Done, Job } from "./loadWorker.ts"
import { listener, policy } from "./loopback.ts"

const applicationScopes = ["read:hello", "write:hello"]
const concurrency = 16

const hello = HttpServerResponse.jsonUnsafe({ hello: "owner" })

const BenchRoutes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  yield* router.add("GET", "/bench/open", Effect.succeed(hello))
  yield* router.add("GET", "/bench/authenticated", auth.requireScopes(["read:hello"])(Effect.succeed(hello)))
}))

/** The core over memory stores, or over SQLite in a temp file as the reference server runs it. */
const storesLayer = (stores: "memory" | "sqlite", dir: string) =>
  stores === "memory"
    ? BootstrapCredentialService.layerMemory.pipe(Layer.provideMerge(SessionCredentialService.layerMemory())).pipe(
      Layer.provideMerge(SigningKeyring.layer()),
      Layer.provideMerge(ServerSecretStore.layerMemory())
    )
    : BootstrapCredentialService.layer.pipe(Layer.provideMerge(SessionCredentialService.layer())).pipe(
      Layer.provideMerge(SigningKeyring.layerFromStore()),
      Layer.provideMerge(SqlStores.layerSqlite({
        filename: Path.join(dir, "gatehouse.db")
      })),
      Layer.provideMerge(ServerSecretStore.layerMemory()),
      Layer.orDie
    )

const serverLayer = (stores: "memory" | "sqlite", dir: string) => {
  const core = ServerAuth.layer({ applicationScopes }).pipe(
    Layer.provideMerge(storesLayer(stores, dir)),
    Layer.provideMerge(policy)
  )
  return BenchRoutes.pipe(
    HttpAuthLayer.layer({ applicationScopes, disableListenLog: true }),
    Layer.provideMerge(core),
    Layer.provideMerge(listener)
  )
}

const childFlag = "GATEHOUSE_BENCH_AUTHENTICATED_ROUTE"

/** Runs `measure` in a child process and waits for it (its output goes to this terminal). */
export const run = () =>
  new Promise<void>((resolve, reject) => {
    const child = fork(new URL(import.meta.url), [], { env: { ...process.env, [childFlag]: "1" }, stdio: "inherit" })
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`authenticatedRoute exited with ${code}`))))
  })

export const measure = async () => {
  const scope = Effect.runSync(Scope.make())
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-"))
  const worker = fork(new URL("./loadWorker.ts", import.meta.url), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  try {
    /** A server, and a session cookie for it. */
    const start = async (stores: "memory" | "sqlite") => {
      const context = await Effect.runPromise(Layer.buildWithScope(serverLayer(stores, dir), scope))
      const address = Context.get(context, HttpServer.HttpServer).address
      const port = address._tag === "UnixPathAddress" ? 0 : address.port
      const sessions = Context.get(context, SessionCredentialService.SessionCredentialService)
      const issued = await Effect.runPromise(
        sessions.issue({ subject: "owner", scopes: applicationScopes, method: "pairing" })
      )
      return { port, cookie: `gatehouse_session_${port}=${Redacted.value(issued.token)}` }
    }
    const { cookie, port } = await start("memory")
    // Informational: the same route on a second server whose stores are SQLite, as `gatehouse
    // serve` runs by default (loaded in its own rounds, never at the same time as the first).
    const sqlite = await start("sqlite")

    let nextId = 0
    const pending = new Map<number, (done: Done) => void>()
    worker.on("message", (done: Done) => pending.get(done.id)?.(done))
    const cpu = new Map<string, { micros: number; requests: number }>()
    const load = (path: string, headers: Record<string, string>, on = port) => async (requests: number) => {
      const job: Job = { id: nextId++, url: `http://127.0.0.1:${on}${path}`, headers, requests, concurrency }
      const before = process.cpuUsage()
      const done = await new Promise<Done>((resolve) => {
        pending.set(job.id, resolve)
        worker.send(job)
      })
      const used = process.cpuUsage(before)
      pending.delete(job.id)
      if (done.failures > 0) {
        throw new Error(`${path}: ${done.failures} of ${requests} requests failed (${done.firstFailure})`)
      }
      const key = `${on}${path}`
      const total = cpu.get(key) ?? { micros: 0, requests: 0 }
      cpu.set(key, { micros: total.micros + used.user + used.system, requests: total.requests + requests })
    }
    const cpuPerRequest = (path: string, on = port) => {
      const total = cpu.get(`${on}${path}`)!
      return Number((total.micros / total.requests).toFixed(1))
    }

    const host = `127.0.0.1:${port}`
    const sqliteRoute = load(
      "/bench/authenticated",
      { host: `127.0.0.1:${sqlite.port}`, cookie: sqlite.cookie },
      sqlite.port
    )
    // Warm every path up (JIT) before anything is measured.
    const warmUp = smoke ? 200 : 20_000
    await load("/bench/authenticated", { host, cookie })(warmUp)
    await load("/bench/open", { host })(warmUp)
    await sqliteRoute(warmUp)
    cpu.clear()
    const results = await compare([
      { name: "authenticated (cookie)", run: load("/bench/authenticated", { host, cookie }) },
      { name: "unauthenticated", run: load("/bench/open", { host }) },
      { name: "authenticated (cookie, SQLite stores)", run: sqliteRoute }
    ], { rounds: 9, roundMillis: 1000, collectGarbage: false })
    const serverCpuMicrosPerRequest = {
      authenticated: cpuPerRequest("/bench/authenticated"),
      unauthenticated: cpuPerRequest("/bench/open"),
      authenticatedSqlite: cpuPerRequest("/bench/authenticated", sqlite.port)
    }
    console.log("server CPU per request (µs):", serverCpuMicrosPerRequest)
    report("authenticatedRoute", results, [
      ratio(results, "authenticated / unauthenticated", "authenticated (cookie)", "unauthenticated", 0.9),
      ratio(
        results,
        "SQLite stores: authenticated / unauthenticated",
        "authenticated (cookie, SQLite stores)",
        "unauthenticated",
        0.9
      )
    ], {
      concurrency,
      unit: "requests per second",
      cookieLength: cookie.length,
      serverCpuMicrosPerRequest,
      cpuRatio: Number((serverCpuMicrosPerRequest.unauthenticated / serverCpuMicrosPerRequest.authenticated).toFixed(3))
    })
  } finally {
    worker.disconnect()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.env[childFlag] === "1") {
  await measure()
  process.exit(0)
}
