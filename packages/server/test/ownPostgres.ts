/**
 * A PostgreSQL cluster of a test's own, which it may stop, start and cut off (the shared test
 * database must never be): Debian's binaries, `initdb` in a temp dir as the `postgres` user
 * (through `runuser` when the test runs as root), loopback only, a free port, removed when the
 * scope closes. `available` says why one cannot be made here, or `undefined`.
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

const binDir = (() => {
  try {
    const versions = Fs.readdirSync("/usr/lib/postgresql").sort((a, b) => Number(a) - Number(b))
    const last = versions.at(-1)
    return last === undefined ? undefined : `/usr/lib/postgresql/${last}/bin`
  } catch {
    return undefined
  }
})()

const isRoot = process.getuid?.() === 0

const hasPostgresUser = spawnSync("id", ["-u", "postgres"]).status === 0

/** Why no cluster can be made here (no binaries, no `postgres` user), or `undefined`. */
export const unavailable: string | undefined = binDir === undefined
  ? "no PostgreSQL binaries in /usr/lib/postgresql"
  : isRoot && !hasPostgresUser
  ? "no postgres user to run the cluster as"
  : undefined

/** Runs a PostgreSQL binary as the cluster's owner; throws with its output when it fails. */
const run = (command: string, args: ReadonlyArray<string>, input?: string) => {
  const [file, argv] = isRoot
    ? ["runuser", ["-u", "postgres", "--", `${binDir}/${command}`, ...args]]
    : [`${binDir}/${command}`, [...args]]
  const result = spawnSync(file, argv, { input, encoding: "utf8", timeout: 60_000 })
  if (result.status !== 0) {
    throw new Error(`${command} failed (${result.status}): ${result.stdout}${result.stderr}`)
  }
  return result.stdout
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

export interface OwnPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/gatehouse` */
  readonly url: string
  readonly password: string
  /** Runs SQL as the superuser over the cluster's Unix socket; its output. */
  readonly psql: (sql: string) => string
  readonly stop: () => void
  readonly start: () => void
}

/** A fresh cluster, started, with a `gatehouse` database; stopped and removed with the scope. */
export const ownPostgres = Effect.acquireRelease(
  Effect.promise(async (): Promise<OwnPostgres & { readonly dir: string }> => {
    const port = await freePort()
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-outage-pg-"))
    if (isRoot) spawnSync("chown", ["postgres", dir])
    const password = Crypto.randomBytes(18).toString("base64url")
    const data = Path.join(dir, "data")
    const passwordFile = Path.join(dir, "pwfile")
    Fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 })
    if (isRoot) spawnSync("chown", ["postgres", passwordFile])
    run("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      `--pwfile=${passwordFile}`,
      "--auth-local=peer",
      "--auth-host=scram-sha-256"
    ])
    Fs.rmSync(passwordFile)
    const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=50`
    const start = () => run("pg_ctl", ["-D", data, "-l", Path.join(dir, "server.log"), "-w", "-o", options, "start"])
    const stop = () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
    start()
    const psql = (sql: string) => run("psql", ["-h", dir, "-p", String(port), "-U", "postgres", "-At", "-c", sql])
    psql("CREATE DATABASE gatehouse")
    return {
      dir,
      url: `postgres://postgres:${password}@127.0.0.1:${port}/gatehouse`,
      password,
      psql,
      stop: () => void stop(),
      start: () => void start()
    }
  }),
  (cluster) =>
    Effect.sync(() => {
      try {
        cluster.stop()
      } catch {
        // Already stopped.
      }
      Fs.rmSync(cluster.dir, { recursive: true, force: true })
    })
)
