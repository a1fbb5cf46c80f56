/**
 * The kill harness: `gatehouse serve` on SQLite in a fresh state directory, driven over loopback
 * (pairing with the startup URL and with a desktop bootstrap credential, pairing links made and consumed, sessions verified, revoked and
 * logged out, `gatehouse keys rotate` from the CLI, first-start secret creation raced by the CLI),
 * and `SIGKILL`ed at a random moment, again and again, restarting after each kill.
 *
 * Several lanes run at once, each with its own state directory, server and model of what the
 * server answered. Requests come from many loopback source addresses (`127.x.y.z`), so that the
 * refusals the harness expects (a used link, a revoked session) never add up to a `429`.
 *
 * What every kill must leave (checked after the kill on the files, and over HTTP once the next
 * start listens):
 * - the state directory loads; every file in it is 0600 and every directory 0700; no secret is
 *   torn; the temp files a kill left are gone after the start;
 * - every session whose pairing was answered 200 verifies (`/api/hello` 200) unless a revoke or
 *   logout of it was answered 2xx, and then it is refused (401);
 * - every pairing link whose creation was answered 201 still pairs once; every one whose use was
 *   answered 200 is refused;
 * - a `keys rotate` that printed its new key id: the next start signs with that key (unless a later
 *   rotation's outcome is unknown); sessions signed with every earlier key still verify.
 * An operation cut off by the kill has an unknown outcome: its subject is observed after the next
 * start, and from then on held to what was observed.
 *
 * `GATEHOUSE_KILLS` sets the number of kills (default 200 when `CI` is set, 24 otherwise);
 * `GATEHOUSE_KILL_SEED` replays a run's schedule (the operations each worker picks, the moments of
 * the kills and of the CLI rotations; the timing of the processes themselves cannot be replayed).
 * The seed is printed at the start and in every failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { AtomicFile, Crockford } from "@gatehouse-auth/core"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Duration, Effect, Fiber } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { bin, nodeArgs, pairingUrlPattern, serve, type Served } from "./helpers.ts"

const kills = Number(process.env.GATEHOUSE_KILLS ?? (process.env.CI ? 200 : 24))
const lanes = Math.max(1, Math.min(Number(process.env.GATEHOUSE_KILL_LANES ?? 4), kills))
const seed = Number(process.env.GATEHOUSE_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31))
/** Every lane stops by then, kills done or not (the test then fails, saying how far it got). */
const budget = Duration.minutes(Number(process.env.GATEHOUSE_KILL_MINUTES ?? 12))

/** mulberry32: a small seeded generator, so that a seed replays the schedule. */
const generator = (...parts: ReadonlyArray<number>) => {
  let state = parts.reduce((acc, part) => Math.imul(acc ^ part, 0x9e3779b1) >>> 0, seed >>> 0)
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    chance: (p: number) => next() < p,
    pick: <A>(items: ReadonlyArray<A>): A | undefined =>
      items.length === 0 ? undefined : items[Math.floor(next() * items.length)]
  }
}

interface Answer {
  readonly status: number
  readonly json: any
}

/**
 * One request over loopback from `localAddress`; `undefined` when no answer came (the server was
 * killed, or 10 s passed): the outcome of that operation is unknown.
 */
const call = (
  port: number,
  localAddress: string,
  method: string,
  path: string,
  options: { readonly token?: string | undefined; readonly body?: unknown } = {}
) =>
  Effect.callback<Answer | undefined>((resume) => {
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body))
    const req = Http.request({
      host: "127.0.0.1",
      port,
      localAddress,
      method,
      path,
      agent: false,
      timeout: 10_000,
      headers: {
        host: `127.0.0.1:${port}`,
        ...(body === undefined ? {} : { "content-type": "application/json", "content-length": String(body.length) }),
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` })
      }
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => {
        let json: unknown = undefined
        try {
          json = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        } catch {
          // not JSON (204)
        }
        resume(Effect.succeed({ status: res.statusCode ?? 0, json }))
      })
      res.on("error", () => resume(Effect.succeed(undefined)))
    })
    req.on("timeout", () => req.destroy())
    req.on("error", () => resume(Effect.succeed(undefined)))
    if (body !== undefined) req.write(body)
    req.end()
    return Effect.sync(() => req.destroy())
  })

interface Session {
  readonly id: string
  readonly token: string
  readonly kid: string
  readonly admin: boolean
  /** `unknown`: a revoke or logout of it got no answer. `busy`: an operation on it is in flight. */
  state: "live" | "revoked" | "unknown"
  busy: boolean
  /** Created or revoked (answered 2xx) and not yet checked after a restart. */
  dirty: boolean
}

interface Link {
  readonly credential: string
  state: "open" | "consumed" | "unknown"
  busy: boolean
  /** Consumed (answered 200) and not yet checked after a restart. */
  dirty: boolean
}

interface Rotation {
  /** The key id it printed; `undefined` when it was killed or its output was lost. */
  readonly kid: string | undefined
}

/** What one lane's server answered 2xx, and so must keep. */
interface Model {
  readonly sessions: Array<Session>
  readonly links: Array<Link>
  readonly rotations: Array<Rotation>
  /** Key ids seen on any token, oldest first. */
  readonly kids: Array<string>
}

const keyIdOf = (token: string): string => token.split(".")[1]!

class Violation extends Error {}

/** The state directory's files, as every kill must leave them: modes, whole secrets, whole server.json. */
/**
 * `afterStart`: the start removed every temp file, except those of `writing` (a CLI running now,
 * which may be creating a secret this very moment).
 */
const assertSoundFiles = (
  stateDir: string,
  where: string,
  afterStart: boolean,
  writing: ReadonlyArray<number | undefined> = []
) => {
  const secrets = Path.join(stateDir, "secrets")
  const entries = [
    ...Fs.readdirSync(stateDir).map((name) => Path.join(stateDir, name)),
    ...(Fs.existsSync(secrets) ? Fs.readdirSync(secrets).map((name) => Path.join(secrets, name)) : [])
  ]
  assert.strictEqual(Fs.statSync(stateDir).mode & 0o777, 0o700, `${where}: ${stateDir}`)
  for (const entry of entries) {
    const stat = Fs.statSync(entry)
    assert.strictEqual(stat.mode & 0o777, stat.isDirectory() ? 0o700 : 0o600, `${where}: mode of ${entry}`)
    const name = Path.basename(entry)
    const owner = AtomicFile.tempOwner(name)
    if (owner !== undefined) {
      assert.isFalse(afterStart && !writing.includes(owner), `${where}: ${entry} left after a start`)
    } else if (name.endsWith(".bin")) {
      assert.strictEqual(stat.size, 32, `${where}: ${entry} is whole`)
    } else if (name === "server.json") {
      const parsed = JSON.parse(Fs.readFileSync(entry, "utf8"))
      assert.containsAllKeys(parsed, ["baseUrl", "pid"], `${where}: ${entry}`)
    }
  }
}

interface Cli {
  readonly child: ChildProcess
  readonly done: Promise<Rotation>
}

/** `gatehouse keys rotate` in its own process; resolves with the key id it printed, if it did. */
const rotate = (stateDir: string, env: Record<string, string>): Cli => {
  const child = spawn(process.execPath, [...nodeArgs, bin, "keys", "rotate", "--state-dir", stateDir], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  const done = new Promise<Rotation>((resolve) =>
    child.once("exit", (code, signal) => {
      const kid = /New signing key ([A-Za-z0-9_-]+)\./.exec(stdout)?.[1]
      if (code === 0 && kid !== undefined) return resolve({ kid })
      if (signal === "SIGKILL") return resolve({ kid: undefined })
      // A rotation that failed on its own (not killed) is a finding, reported with its output.
      resolve({ kid: `failed: exit ${code} ${stderr.trim()}` })
    })
  )
  return { child, done }
}

/**
 * `env` is the children's: Node's compile cache, shared by every start of the run, since a start
 * spends most of its CPU compiling effect's modules (a third less with the cache). It changes
 * nothing the harness tests.
 */
const runLane = (lane: number, perLane: number, deadline: number, env: Record<string, string>) =>
  Effect.gen(function*() {
    const stateDir = Path.join(yield* tempDirectory, "state")
    const model: Model = { sessions: [], links: [], rotations: [], kids: [] }
    let addressCounter = 0
    /** A new loopback source address for each request: 127.<lane+1>.<n>.<n> (never .0 or .255). */
    const address = () => {
      const n = addressCounter++
      return `127.${lane + 1}.${(n >> 8) % 250 + 1}.${n % 250 + 1}`
    }
    let done = 0
    /** What the run did, printed at the end: a harness that never revoked proves little. */
    const counts = {
      startupKills: 0,
      paired: 0,
      desktopPaired: 0,
      minted: 0,
      consumed: 0,
      revoked: 0,
      loggedOut: 0,
      verified: 0,
      unknown: 0,
      checkedAfterRestart: 0
    }

    for (let cycle = 0; cycle < perLane && Date.now() < deadline; cycle++) {
      const where = `seed ${seed} lane ${lane} cycle ${cycle} (GATEHOUSE_KILL_SEED=${seed})`
      const schedule = generator(lane, cycle)
      const fail = (message: string) => {
        throw new Violation(`${where}: ${message}`)
      }
      yield* Effect.scoped(Effect.gen(function*() {
        // The schedule of this cycle, drawn up front so that a seed replays it.
        const startupKill = cycle > 0 && schedule.chance(0.35)
        const killAfter = startupKill ? 100 + schedule.int(1400) : 20 + schedule.int(650)
        const cliAt: "spawn" | "listening" | "none" = cycle === 0 || schedule.chance(0.03)
          ? "spawn"
          : schedule.chance(0.1)
          ? "listening"
          : "none"
        const cliDelay = schedule.int(400)
        const killCli = schedule.chance(0.4)
        // As a desktop shell launches it: a bootstrap credential on descriptor 3, paired at once.
        const desktop = schedule.chance(0.25) ? Crockford.generate() : undefined
        const workers = 3

        let cli: Cli | undefined
        const startCli = () => {
          cli = rotate(stateDir, env)
        }
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (cli !== undefined && cli.child.exitCode === null && cli.child.signalCode === null) {
              cli.child.kill("SIGKILL")
            }
          })
        )
        const served: Served = yield* serve([
          "--port",
          "0",
          "--state-dir",
          stateDir,
          "--key-refresh-interval",
          "1 second",
          ...(desktop === undefined ? [] : ["--desktop-bootstrap-fd", "3"])
        ], { env, fd3: desktop !== undefined })
        if (desktop !== undefined) {
          const pipe = served.child.stdio[3] as NodeJS.WritableStream
          // A kill closes the other end at any moment: a reset here is expected, not an error.
          pipe.on("error", () => {})
          pipe.end(`${desktop}\n`)
        }
        if (cliAt === "spawn") startCli()
        const kill = () => {
          served.child.kill("SIGKILL")
          if (killCli && cli !== undefined) cli.child.kill("SIGKILL")
        }

        /** Waits for the `Pairing URL:` line, or the end of the process; bounded. */
        const listening = Effect.gen(function*() {
          const until = Date.now() + 60_000
          while (Date.now() < until) {
            const match = pairingUrlPattern.exec(served.stdout())
            if (match !== null) return { port: Number(match[2]), token: match[3]! }
            if (served.child.exitCode !== null || served.child.signalCode !== null) return undefined
            yield* Effect.sleep("10 millis")
          }
          return fail(`no Pairing URL within 60 s\n${served.stderr()}`)
        })
        const exited = Effect.promise(() => served.exit)

        if (startupKill) counts.startupKills++
        if (startupKill) yield* Effect.forkScoped(Effect.delay(Effect.sync(kill), Duration.millis(killAfter)))
        const listened = yield* listening
        if (listened !== undefined) {
          if (!startupKill) yield* Effect.forkScoped(Effect.delay(Effect.sync(kill), Duration.millis(killAfter)))
          if (cliAt === "listening") yield* Effect.forkScoped(Effect.delay(Effect.sync(startCli), cliDelay))
          const { port } = listened
          assertSoundFiles(stateDir, `${where}, at listening`, true, [cli?.child.pid])

          const session = (answer: Answer, admin: boolean): Session => {
            const token = answer.json.accessToken as string
            const kid = keyIdOf(token)
            if (!model.kids.includes(kid)) model.kids.push(kid)
            return { id: answer.json.session.id, token, kid, admin, state: "live", busy: false, dirty: true }
          }
          const unexpected = (what: string, answer: Answer) =>
            fail(`${what}: unexpected ${answer.status} ${JSON.stringify(answer.json)}`)
          /** A 5xx other than 503, or a 429, is a finding whatever the operation. */
          const screen = (what: string, answer: Answer | undefined) => {
            if (answer !== undefined && (answer.status === 429 || (answer.status >= 500 && answer.status !== 503))) {
              unexpected(what, answer)
            }
            return answer !== undefined && answer.status !== 503 ? answer : undefined
          }

          /** Holds `target` to its state, or learns it when unknown; `false` when nothing was learnt. */
          const verify = (target: Session) =>
            Effect.gen(function*() {
              const answer = screen(
                "verify",
                yield* call(port, address(), "GET", "/api/hello", { token: target.token })
              )
              if (answer === undefined) return false
              counts.verified++
              const live = answer.status === 200
              if (!live && answer.status !== 401) unexpected("verify", answer)
              if (target.state === "unknown") target.state = live ? "live" : "revoked"
              else if (live !== (target.state === "live")) {
                fail(
                  `session ${target.id} (key ${target.kid}) was ${target.state}, the server ${
                    live ? "accepts" : "refuses"
                  } it`
                )
              }
              return true
            })

          /** Consumes `link`: when it was open, it must pair; when consumed, it must be refused. */
          const consume = (link: Link) =>
            Effect.gen(function*() {
              const before = link.state
              if (before === "open") link.state = "unknown"
              const answer = screen(
                "consume",
                yield* call(port, address(), "POST", "/api/auth/bootstrap/bearer", {
                  body: { credential: link.credential }
                })
              )
              if (answer === undefined) {
                if (before === "consumed") link.state = "consumed"
                else counts.unknown++
                return false
              }
              if (answer.status === 200) {
                if (before === "consumed") fail(`a link answered as consumed paired again`)
                model.sessions.push(session(answer, false))
                link.dirty = true
                counts.consumed++
              } else if (answer.status !== 401) unexpected("consume", answer)
              else if (before === "open") fail(`a link whose creation was answered 201 was refused`)
              link.state = "consumed"
              return before === "consumed"
            })

          // After the restart: the startup URL pairs an administrator (the current key signs it).
          const paired = screen(
            "pair",
            yield* call(port, address(), "POST", "/api/auth/bootstrap/bearer", { body: { credential: listened.token } })
          )
          let admin: Session | undefined
          if (paired !== undefined) {
            if (paired.status !== 200) unexpected("pair", paired)
            admin = session(paired, true)
            counts.paired++
            model.sessions.push(admin)
            // A rotation that printed its key id before the kill is what this start signs with.
            const lastKnown = model.rotations.findLastIndex((rotation) => rotation.kid !== undefined)
            if (lastKnown >= 0) {
              const expected = model.rotations[lastKnown]!.kid!
              // A rotation with no known outcome, or one running now, may have replaced it.
              const later = model.rotations.length - 1 > lastKnown || cli !== undefined
              if (!later && admin.kid !== expected) {
                fail(`rotation to ${expected} returned; the server signs with ${admin.kid}`)
              }
              const older = model.rotations.slice(0, lastKnown).map((rotation) => rotation.kid)
              if (older.includes(admin.kid)) fail(`the server signs with ${admin.kid}, rotated away from`)
            }
          }

          if (desktop !== undefined) {
            const answer = screen(
              "desktop pair",
              yield* call(port, address(), "POST", "/api/auth/bootstrap/bearer", { body: { credential: desktop } })
            )
            if (answer !== undefined) {
              if (answer.status !== 200) unexpected("desktop pair", answer)
              model.sessions.push(session(answer, false))
              counts.desktopPaired++
            }
          }

          // Every write answered 2xx since the last check, every unknown outcome, and a sample of
          // the rest, one live session per key id included (earlier keys still verify).
          if (admin !== undefined) admin.dirty = false
          const sample = new Set<Session>()
          for (const target of model.sessions) {
            if (target.dirty || target.state === "unknown" || schedule.chance(0.02)) sample.add(target)
          }
          for (const kid of model.kids) {
            const one = schedule.pick(model.sessions.filter((target) => target.kid === kid && target.state === "live"))
            if (one !== undefined) sample.add(one)
          }
          yield* Effect.forEach([...sample], (target) =>
            Effect.map(verify(target), (learnt) => {
              if (learnt) counts.checkedAfterRestart++
              if (learnt) target.dirty = false
            }), { concurrency: 4, discard: true })
          const links = model.links.filter((link) => link.dirty || link.state === "unknown" || schedule.chance(0.02))
          yield* Effect.forEach(links, (link) =>
            Effect.map(consume(link), (checked) => {
              if (checked) counts.checkedAfterRestart++
              if (checked) link.dirty = false
            }), { concurrency: 4, discard: true })

          // Traffic until the kill: each worker picks operations from its own generator.
          const worker = (index: number) =>
            Effect.gen(function*() {
              const choose = generator(lane, cycle, index + 1)
              let idle = false
              for (let step = 0; step < 2000; step++) {
                // Nothing to do on this step (no open link, no session to revoke): wait a little.
                if (step > 0) yield* Effect.sleep(idle ? "5 millis" : "0 millis")
                idle = true
                const roll = choose.next()
                if (roll < 0.25 && admin !== undefined) {
                  if (model.links.filter((link) => link.state === "open").length >= 15) continue
                  idle = false
                  const answer = screen(
                    "mint",
                    yield* call(port, address(), "POST", "/api/auth/pairing-links", {
                      token: admin.token,
                      body: { ttlSeconds: 3600, label: `lane ${lane}` }
                    })
                  )
                  // 409: the server's cap on open links, reached by links whose creation the kills
                  // cut off (open on the server, unknown here); in long runs only.
                  if (answer === undefined || answer.status === 409) continue
                  if (answer.status !== 201) unexpected("mint", answer)
                  model.links.push({ credential: answer.json.credential, state: "open", busy: false, dirty: false })
                  counts.minted++
                } else if (roll < 0.5) {
                  const link = choose.pick(model.links.filter((link) => link.state === "open" && !link.busy))
                  if (link === undefined) continue
                  idle = false
                  link.busy = true
                  yield* consume(link)
                  link.busy = false
                } else if (roll < 0.7) {
                  const target = choose.pick(
                    model.sessions.filter((target) => !target.admin && target.state === "live" && !target.busy)
                  )
                  if (target === undefined || admin === undefined) continue
                  idle = false
                  target.busy = true
                  target.state = "unknown"
                  const logout = choose.chance(0.5)
                  const answer = screen(
                    logout ? "logout" : "revoke",
                    logout
                      ? yield* call(port, address(), "POST", "/api/auth/logout", { token: target.token })
                      : yield* call(port, address(), "DELETE", `/api/auth/sessions/${target.id}`, {
                        token: admin.token
                      })
                  )
                  target.busy = false
                  if (answer === undefined) {
                    counts.unknown++
                    continue
                  }
                  const revoked = logout ? answer.status === 204 : answer.status === 200 && answer.json.revoked === true
                  if (!revoked) unexpected(logout ? "logout" : "revoke", answer)
                  target.state = "revoked"
                  target.dirty = true
                  if (logout) counts.loggedOut++
                  else counts.revoked++
                } else {
                  const target = choose.pick(
                    model.sessions.filter((target) => !target.busy && target.state !== "unknown")
                  )
                  if (target === undefined) continue
                  idle = false
                  target.busy = true
                  yield* verify(target)
                  target.busy = false
                }
              }
            })
          const traffic = yield* Effect.forkScoped(
            Effect.forEach(Array.from({ length: workers }, (_, index) => index), worker, {
              concurrency: workers,
              discard: true
            })
          )
          yield* exited
          yield* Fiber.interrupt(traffic)
        }
        const exit = yield* exited
        if (exit.signal !== "SIGKILL") fail(`the server exited by itself (${exit.code})\n${served.stderr()}`)
        done++
        if (cli !== undefined) {
          const outcome = yield* Effect.promise(() => cli!.done)
          if (outcome.kid?.startsWith("failed:")) fail(`keys rotate ${outcome.kid}`)
          model.rotations.push(outcome)
        }
        // Operations cut off by the kill: their subjects are observed after the next start.
        for (const target of model.sessions) target.busy = false
        for (const link of model.links) link.busy = false
        assertSoundFiles(stateDir, `${where}, after the kill`, false)
      }))
    }
    return {
      done,
      ...counts,
      rotations: model.rotations.filter((rotation) => rotation.kid !== undefined).length,
      rotationsCutOff: model.rotations.filter((rotation) => rotation.kid === undefined).length,
      keys: model.kids.length
    }
  })

describe("the kill harness (SQLite)", () => {
  it.live(
    `${kills} SIGKILLs at random moments over ${lanes} lanes (GATEHOUSE_KILLS, GATEHOUSE_KILL_SEED=${seed})`,
    () =>
      Effect.gen(function*() {
        console.log(`kill harness: GATEHOUSE_KILL_SEED=${seed} GATEHOUSE_KILLS=${kills} lanes=${lanes}`)
        const deadline = Date.now() + Duration.toMillis(budget)
        const env = { NODE_COMPILE_CACHE: Path.join(yield* tempDirectory, "compile-cache") }
        const perLane = Array.from({ length: lanes }, (_, lane) =>
          Math.floor(kills / lanes) + (lane < kills % lanes ? 1 : 0))
        const results = yield* Effect.forEach(
          perLane.map((count, lane) =>
            [lane, count] as const
          ),
          ([lane, count]) => runLane(lane, count, deadline, env),
          { concurrency: lanes }
        ).pipe(Effect.scoped)
        const sum = (key: Exclude<keyof (typeof results)[number], never>) =>
          results.reduce((total, result) => total + result[key], 0)
        const totals = Object.fromEntries(Object.keys(results[0]!).map((key) => [key, sum(key as never)]))
        console.log(`kill harness (GATEHOUSE_KILL_SEED=${seed}):`, JSON.stringify(totals))
        assert.strictEqual(sum("done"), kills, `seed ${seed}: only ${sum("done")} kills before the time budget ran out`)
        // The traffic reached each kind of write and rotated keys (some runs are too short to).
        for (const key of ["paired", "minted", "consumed", "checkedAfterRestart"] as const) {
          assert.isAbove(sum(key), 0, `seed ${seed}: no ${key}`)
        }
        if (kills >= 100) {
          for (const key of ["revoked", "loggedOut", "rotations", "startupKills", "desktopPaired"] as const) {
            assert.isAbove(sum(key), 0, `seed ${seed}: no ${key}`)
          }
        }
      }),
    Duration.toMillis(budget) + 60_000
  )
})
