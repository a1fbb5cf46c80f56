/**
 * Gatehouse against what a user would use instead, and against no auth at all, in one run:
 *
 * - over loopback, the same authenticated `GET /bench/hello` answering `{"hello":"owner"}` from
 *   (a) Gatehouse's reference stack on SQLite, with a bearer session and with a cookie session;
 *   (b) better-auth on `node:sqlite` with its default database sessions (bearer and cookie), and
 *   with `cookieCache` on (cookie); (c) a bare `node:http` server with no auth (the ceiling); and
 *   a canned-response `net` server, the load generator's own ceiling. Each server is a process of
 *   its own (bench/peerServer.ts); the load comes from one generator process
 *   (bench/loadGenerator.ts) at the same concurrency for all, in interleaved rounds. On a machine
 *   with 2 cores or more and `taskset`, the servers are pinned to core 0 and the generator to
 *   core 1, and the report says whether they were.
 * - in-process, no HTTP: Gatehouse's request authentication (`HttpAuth.authenticate` over the
 *   reference stack's SQLite stores) against better-auth's `auth.api.getSession` over node:sqlite.
 *
 * Every answer under load must be 200 with the expected body, and after each round every
 * authenticated server gets a bad and a revoked token, which it must answer 401: otherwise the
 * run is marked invalid (in the JSON and in the summary). The probes come from a fresh loopback
 * address (127.1.x.y) each time, so that Gatehouse's shipped rate limiter (10 refused credentials
 * a minute per address) stays on without answering them 429.
 */
import { Effect, Exit } from "effect"
import { HttpServerRequest } from "effect/http"
import { type ChildProcess, fork, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { compare, ratio, report, type Result, smoke } from "./harness.ts"
import type { Done, Job } from "./loadGenerator.ts"
import * as PeerBetterAuth from "./peerBetterAuth.ts"
import * as PeerGatehouse from "./peerGatehouse.ts"
import * as PeerServer from "./peerShared.ts"

const concurrency = 16

/** Where each process runs: servers on core 0, the generator on core 1, when that can be done. */
const pinning = (() => {
  const cores = Os.availableParallelism()
  const taskset = spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0
  const pinned = cores >= 2 && taskset
  return {
    pinned,
    cores,
    why: pinned
      ? "servers pinned to core 0, the load generator to core 1 (taskset -a -p -c)"
      : cores < 2
      ? `not pinned: ${cores} core`
      : "not pinned: taskset is not installed",
    pin: (child: ChildProcess, core: number) => {
      if (!pinned || child.pid === undefined) return
      const result = spawnSync("taskset", ["-a", "-p", "-c", String(core), String(child.pid)], { stdio: "ignore" })
      if (result.status !== 0) throw new Error(`taskset could not pin process ${child.pid}`)
    }
  }
})()

interface Server {
  readonly kind: PeerServer.Kind
  readonly child: ChildProcess
  readonly ready: PeerServer.Ready
}

const startServer = (kind: PeerServer.Kind) =>
  new Promise<Server>((resolve, reject) => {
    const child = fork(new URL("./peerServer.ts", import.meta.url), [kind], {
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`peer server ${kind} exited with ${code}`)))
    child.once("message", (message: { ready: PeerServer.Ready }) => {
      pinning.pin(child, 0)
      resolve({ kind, child, ready: message.ready })
    })
  })

const rssOf = (server: Server) =>
  new Promise<number>((resolve) => {
    server.child.once("message", (message: { rss: number }) => resolve(message.rss))
    server.child.send("rss")
  })

/** One GET from a given loopback source address, its status. */
const probe = (port: number, headers: PeerServer.HeaderRecord, localAddress: string) =>
  new Promise<number>((resolve, reject) => {
    const request = Http.request(
      { host: "127.0.0.1", port, path: PeerServer.path, headers, localAddress, agent: false },
      (response) => {
        response.resume()
        response.on("end", () => resolve(response.statusCode ?? 0))
      }
    )
    request.setTimeout(10_000, () => request.destroy(new Error("timed out")))
    request.on("error", reject)
    request.end()
  })

let probeAddress = 0
const nextProbeAddress = () => {
  probeAddress++
  return `127.1.${Math.floor(probeAddress / 250) % 250}.${(probeAddress % 250) + 1}`
}

const requestText = (port: number, headers: PeerServer.HeaderRecord) =>
  [
    `GET ${PeerServer.path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    "accept: application/json",
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    "",
    ""
  ].join("\r\n")

const childFlag = "GATEHOUSE_BENCH_PEER"

/** Runs `measure` in a fresh Node process (as authenticatedRoute does) and waits for it. */
export const run = () =>
  new Promise<void>((resolve, reject) => {
    const child = fork(new URL(import.meta.url), [], { env: { ...process.env, [childFlag]: "1" }, stdio: "inherit" })
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`peer exited with ${code}`))))
  })

const names = {
  gatehouseBearer: "Gatehouse (bearer, SQLite)",
  gatehouseCookie: "Gatehouse (cookie, SQLite)",
  betterAuthBearer: "better-auth (bearer, database sessions)",
  betterAuthCookie: "better-auth (cookie, database sessions)",
  betterAuthCached: "better-auth (cookie, cookieCache)",
  bare: "bare node:http (no auth)",
  canned: "load generator ceiling (canned net server)"
}

const inProcessNames = {
  gatehouseCookie: "in-process: Gatehouse HttpAuth.authenticate (cookie, SQLite)",
  gatehouseBearer: "in-process: Gatehouse HttpAuth.authenticate (bearer, SQLite)",
  betterAuthCookie: "in-process: better-auth getSession (cookie, database sessions)",
  betterAuthBearer: "in-process: better-auth getSession (bearer, database sessions)",
  betterAuthCached: "in-process: better-auth getSession (cookie, cookieCache)"
}

/** The loopback part: every server, one generator, interleaved rounds. */
const overLoopback = async (problems: Array<string>) => {
  const kinds: ReadonlyArray<PeerServer.Kind> = [
    "gatehouse",
    "better-auth",
    "better-auth-cookie-cache",
    "bare",
    "canned"
  ]
  const servers: Array<Server> = []
  const generator = fork(new URL("./loadGenerator.ts", import.meta.url), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  pinning.pin(generator, 1)
  try {
    for (const kind of kinds) servers.push(await startServer(kind))
    const server = (kind: PeerServer.Kind) => servers.find((s) => s.kind === kind)!

    let nextId = 0
    const pending = new Map<number, (done: Done) => void>()
    generator.on("message", (done: Done) => pending.get(done.id)?.(done))
    let answered = 0
    const load = (name: string, target: Server, headers: PeerServer.HeaderRecord) => {
      const request = requestText(target.ready.port, headers)
      return async (requests: number) => {
        const job: Job = {
          id: nextId++,
          port: target.ready.port,
          request,
          requests,
          concurrency,
          expectStatus: 200,
          expectBody: PeerServer.body
        }
        const done = await new Promise<Done>((resolve) => {
          pending.set(job.id, resolve)
          generator.send(job)
        })
        pending.delete(job.id)
        answered += requests - done.failures
        if (done.failures > 0) {
          problems.push(
            `${name}: ${done.failures} of ${requests} answers were not 200 ${PeerServer.body} (first: ${done.firstFailure})`
          )
        }
      }
    }
    const stale = { probes: 0, answered200: 0 }
    const check = (name: string, target: Server) => async () => {
      const from = nextProbeAddress()
      for (const [what, list] of [["bad", target.ready.bad], ["revoked", target.ready.revoked]] as const) {
        for (const headers of list) {
          const status = await probe(target.ready.port, headers, from).catch((error) => String(error))
          if (status !== 401) problems.push(`${name}: a ${what} token was answered ${status}, not 401`)
        }
      }
      if (target.ready.staleAfterRevoke !== undefined) {
        stale.probes++
        if (await probe(target.ready.port, target.ready.staleAfterRevoke, from) === 200) stale.answered200++
      }
    }
    const candidate = (name: string, kind: PeerServer.Kind, client?: string) => {
      const target = server(kind)
      const headers = client === undefined ? {} : target.ready.clients[client]!
      return {
        name,
        run: load(name, target, headers),
        ...(client === undefined ? {} : { check: check(name, target) })
      }
    }
    const candidates = [
      candidate(names.gatehouseBearer, "gatehouse", "bearer"),
      candidate(names.gatehouseCookie, "gatehouse", "cookie"),
      candidate(names.betterAuthBearer, "better-auth", "bearer"),
      candidate(names.betterAuthCookie, "better-auth", "cookie"),
      candidate(names.betterAuthCached, "better-auth-cookie-cache", "cookie"),
      candidate(names.bare, "bare"),
      candidate(names.canned, "canned")
    ]
    // Warm every path up (JIT) and check it once before anything is measured.
    for (const { check, name, run } of candidates) {
      await run(smoke ? 50 : name.startsWith("better-auth") ? 1000 : 5000)
      await check?.()
    }
    const results = await compare(candidates, { rounds: 9, roundMillis: 1000, collectGarbage: false })
    const rss: Record<string, number> = {}
    for (const s of servers) rss[s.kind] = Math.round((await rssOf(s)) / 1024 / 1024)
    return {
      results,
      rssMiB: rss,
      answered,
      stale,
      configuration: Object.fromEntries(servers.map((s) => [s.kind, s.ready.configuration]))
    }
  } finally {
    generator.disconnect()
    for (const s of servers) if (s.child.connected) s.child.disconnect()
  }
}

/** The in-process part: request authentication, no HTTP, one process. */
const inProcess = async (problems: Array<string>) => {
  const directory = PeerServer.temporary()
  const gatehouse = await PeerGatehouse.gatehouseInstance(Path.join(directory, "gatehouse"))
  const databaseDir = Path.join(directory, "better-auth")
  const cachedDir = Path.join(directory, "better-auth-cached")
  Fs.mkdirSync(databaseDir)
  Fs.mkdirSync(cachedDir)
  const baseURL = "http://127.0.0.1:3000"
  const database = await PeerBetterAuth.betterAuthInstance(databaseDir, baseURL, false)
  const cached = await PeerBetterAuth.betterAuthInstance(cachedDir, baseURL, true)
  try {
    const url = `http://127.0.0.1:${gatehouse.port}${PeerServer.path}`
    const host = `127.0.0.1:${gatehouse.port}`
    const gatehouseHeaders = {
      cookie: { host, cookie: `${gatehouse.cookieName}=${gatehouse.valid}` },
      bearer: { host, authorization: `Bearer ${gatehouse.valid}` }
    }
    const authenticate = (headers: PeerServer.HeaderRecord) =>
      Effect.provideService(
        gatehouse.httpAuth.authenticate,
        HttpServerRequest.HttpServerRequest,
        HttpServerRequest.fromWeb(new Request(url, { headers }))
      )
    const gatehouseLoop = (headers: PeerServer.HeaderRecord) => (n: number) =>
      Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < n; i++) {
          const { session } = yield* authenticate(headers)
          if (session.subject !== "owner") throw new Error("not the owner")
        }
      }))
    const betterAuthLoop = (instance: typeof database, headers: PeerServer.HeaderRecord) => async (n: number) => {
      for (let i = 0; i < n; i++) {
        const session = await instance.auth.api.getSession({ headers: new Headers(headers) })
        if (session === null) throw new Error("better-auth found no session")
      }
    }
    // Refusals, before and after the rounds (not after each: the in-process requests all come from
    // one unknown address, whose budget is 10 refusals a minute).
    const refusals = async () => {
      for (const token of [gatehouse.bad, gatehouse.revoked]) {
        for (
          const headers of [{ host, cookie: `${gatehouse.cookieName}=${token}` }, {
            host,
            authorization: `Bearer ${token}`
          }]
        ) {
          const exit = await Effect.runPromiseExit(authenticate(headers))
          const status = Exit.isFailure(exit)
            ? (exit.cause.reasons[0] as { error?: { status?: number } })?.error?.status
            : 200
          if (status !== 401) problems.push(`in-process Gatehouse: a bad or revoked token gave ${status}, not 401`)
        }
      }
      for (const instance of [database, cached]) {
        for (
          const headers of [
            { authorization: `Bearer ${instance.bad}` },
            { authorization: `Bearer ${instance.gone.token}` },
            { cookie: instance.gone.tokenCookie }
          ]
        ) {
          if (await instance.auth.api.getSession({ headers: new Headers(headers) }) !== null) {
            problems.push("in-process better-auth: a bad or revoked token found a session")
          }
        }
      }
    }
    await refusals()
    const results = await compare([
      { name: inProcessNames.gatehouseCookie, run: gatehouseLoop(gatehouseHeaders.cookie) },
      { name: inProcessNames.gatehouseBearer, run: gatehouseLoop(gatehouseHeaders.bearer) },
      { name: inProcessNames.betterAuthCookie, run: betterAuthLoop(database, { cookie: database.valid.tokenCookie }) },
      {
        name: inProcessNames.betterAuthBearer,
        run: betterAuthLoop(database, { authorization: `Bearer ${database.valid.token}` })
      },
      { name: inProcessNames.betterAuthCached, run: betterAuthLoop(cached, { cookie: cached.valid.allCookies }) }
    ], { rounds: 7, roundMillis: 300 })
    await refusals()
    return results
  } finally {
    await gatehouse.close()
    database.database.close()
    cached.database.close()
    Fs.rmSync(directory, { recursive: true, force: true })
  }
}

export const measure = async () => {
  const problems: Array<string> = []
  const loopback = await overLoopback(problems)
  const local = await inProcess(problems)
  const results: ReadonlyArray<Result> = [...loopback.results, ...local]
  const figure = (name: string) => Math.round(results.find((r) => r.name === name)!.opsPerSecond)
  const staleness = {
    gatehouse: "0 s: the session row is read on every request (SQLite remembered reads re-check PRAGMA " +
      "data_version, so a revoke by another process counts at once too); the verified-token cache (1 minute) " +
      "skips only the HMAC and the claim decode, never the revocation check",
    betterAuthDatabaseSessions: "0 s: getSession reads the session row on every call",
    betterAuthCookieCache: `up to cookieCache.maxAge = ${PeerServer.cookieCacheMaxAgeSeconds} s for a client that ` +
      `holds the session_data cookie (observed this run: a revoked session with its cache cookie was answered ` +
      `200 in ${loopback.stale.answered200} of ${loopback.stale.probes} probes); 0 s without that cookie (bearer)`
  }
  const valid = problems.length === 0
  console.log(
    `\npeer: better-auth ${PeerBetterAuth.betterAuthVersion}, Node ${process.version}, concurrency ${concurrency}`
  )
  console.log(`pinning: ${pinning.why}`)
  for (const [kind, text] of Object.entries(loopback.configuration)) console.log(`  ${kind}: ${text}`)
  console.log(
    `load generator ceiling (canned net server): ${figure(names.canned)} req/s; ` +
      `bare node:http: ${figure(names.bare)} req/s`
  )
  console.log("RSS after the run (MiB):", loopback.rssMiB)
  console.log("staleness after a revoke:")
  for (const [side, text] of Object.entries(staleness)) console.log(`  ${side}: ${text}`)
  if (valid) {
    console.log(
      `every one of ${loopback.answered} answers was 200 with the expected body; every bad and revoked token 401`
    )
  } else {
    console.log(`RUN INVALID (${problems.length} problems):`)
    for (const problem of problems.slice(0, 20)) console.log(`  ${problem}`)
  }
  report("peer", results, [
    ratio(
      results,
      "peer: Gatehouse cookie / better-auth cookie (database sessions)",
      names.gatehouseCookie,
      names.betterAuthCookie,
      5
    ),
    ratio(
      results,
      "peer: Gatehouse bearer / better-auth bearer (database sessions)",
      names.gatehouseBearer,
      names.betterAuthBearer,
      5
    ),
    ratio(
      results,
      "peer: Gatehouse cookie / better-auth cookie (cookieCache)",
      names.gatehouseCookie,
      names.betterAuthCached,
      4
    ),
    ratio(results, "peer: Gatehouse bearer / bare node:http", names.gatehouseBearer, names.bare, 0.7),
    ratio(results, "peer: Gatehouse cookie / bare node:http", names.gatehouseCookie, names.bare, 0.7),
    ratio(results, "peer: load generator ceiling / bare node:http (headroom)", names.canned, names.bare, 1.5),
    ratio(
      results,
      "peer in-process: Gatehouse authenticate / better-auth getSession (cookie, database sessions)",
      inProcessNames.gatehouseCookie,
      inProcessNames.betterAuthCookie,
      100
    ),
    ratio(
      results,
      "peer in-process: Gatehouse authenticate / better-auth getSession (bearer, database sessions)",
      inProcessNames.gatehouseBearer,
      inProcessNames.betterAuthBearer,
      100
    ),
    ratio(
      results,
      "peer in-process: Gatehouse authenticate / better-auth getSession (cookie, cookieCache) (informational)",
      inProcessNames.gatehouseCookie,
      inProcessNames.betterAuthCached,
      0
    )
  ], {
    valid,
    problems,
    answered: loopback.answered,
    betterAuthVersion: PeerBetterAuth.betterAuthVersion,
    concurrency,
    unit: "requests per second (in-process: authentications per second)",
    pinning: { pinned: pinning.pinned, cores: pinning.cores, how: pinning.why },
    configuration: loopback.configuration,
    rssMiB: loopback.rssMiB,
    staleness,
    staleAfterRevoke: loopback.stale
  })
}

if (process.env[childFlag] === "1") {
  await measure()
  process.exit(0)
}
