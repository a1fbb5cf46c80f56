/**
 * The packages as a user gets them. Every package is built and packed with npm, and the tarballs
 * are installed into a fresh project outside the workspace (its own package.json, Node 22 pinned
 * there too, nothing of the workspace in reach). There:
 *
 * - the tarballs hold built JavaScript and declarations only: no tests, no TypeScript sources;
 * - every package and subpath imports under plain Node;
 * - every example, copied in as a user would copy it, type-checks with `tsc` against the installed
 *   declarations (a probe proves the types are real, not `any`); `effect-server` starts and pairs
 *   a client over loopback with the pairing URL it prints, and `desktop-shell` launches the
 *   installed bin with the desktop credential on fd 3;
 * - the installed `gatehouse` bin answers `--help`, serves, and stops on SIGTERM; its `/pair` page
 *   serves the installed client's built `dist/index.js` and runs in Chromium (when installed);
 * - `@gatehouse-auth/client` (and its `./dpop` entry) has no runtime dependency, and its
 *   declarations type-check (the contract's types come from the installed `@gatehouse-auth/http`);
 * - better-auth, the benchmarks' peer (a root devDependency), is in no tarball's dependency tree.
 */
import * as Support from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { chromium } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const repo = Path.resolve(import.meta.dirname, "..", "..")
const packages = ["core", "sql", "http", "client", "server", "testing"].map((name) => `@gatehouse-auth/${name}`)
const exec = promisify(execFile)
const examples = Fs.readdirSync(Path.join(repo, "examples")).filter((name) =>
  Fs.existsSync(Path.join(repo, "examples", name, "src"))
)

const installedVersion = (name: string): string =>
  JSON.parse(Fs.readFileSync(Path.join(repo, "node_modules", name, "package.json"), "utf8")).version

let work: string
let project: string
let bin: (name: string) => string
let packed: ReadonlyArray<{ readonly name: string; readonly filename: string; readonly files: ReadonlyArray<string> }>
const children: Array<ChildProcess> = []

/** Runs a command to completion in `cwd`, with the project's own `node_modules/.bin` first on PATH. */
const run = (file: string, args: ReadonlyArray<string>, cwd: string, timeout = 300_000) =>
  exec(file, [...args], {
    cwd,
    timeout,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PATH: `${Path.join(cwd, "node_modules", ".bin")}${Path.delimiter}${process.env.PATH}` }
  })

// The workspace's own helper: the consumer test uses it to drive the installed packages, not to test it.
const freePort = () => Effect.runPromise(Support.freePort)

/** Starts a long-running child and resolves once its stdout matches `ready` (bounded). */
const startChild = (file: string, args: ReadonlyArray<string>, env: Record<string, string>, ready: RegExp) =>
  new Promise<{ child: ChildProcess; match: RegExpMatchArray; exit: Promise<number | null> }>((resolve, reject) => {
    const child = spawn(file, [...args], { cwd: project, env: { ...process.env, ...env }, stdio: "pipe" })
    children.push(child)
    const exit = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    let out = ""
    let err = ""
    const timer = setTimeout(() => reject(new Error(`not ready in 30 s:\n${out}\n${err}`)), 30_000)
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk))
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
      const match = out.match(ready)
      if (match) {
        clearTimeout(timer)
        resolve({ child, match, exit })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`exited ${code} before it was ready:\n${out}\n${err}`))
    })
  })

const stop = async (started: { child: ChildProcess; exit: Promise<number | null> }) => {
  started.child.kill("SIGTERM")
  const code = await Promise.race([started.exit, new Promise<"timeout">((done) => setTimeout(done, 10_000, "timeout"))])
  return code
}

beforeAll(async () => {
  work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-consumer-"))
  const tarballs = Path.join(work, "tarballs")
  Fs.mkdirSync(tarballs)
  await run("npm", ["run", "build"], repo)
  const { stdout } = await run(
    "npm",
    ["pack", "--json", "--pack-destination", tarballs, ...packages.flatMap((name) => ["-w", name])],
    repo
  )
  packed = (JSON.parse(stdout) as Array<{ name: string; filename: string; files: Array<{ path: string }> }>).map((
    entry
  ) => ({
    name: entry.name,
    filename: Path.join(tarballs, entry.filename),
    files: entry.files.map((file) => file.path)
  }))

  // A project of its own, as a user's would be: their dependencies, Node 22 pinned, TypeScript.
  project = Path.join(work, "app")
  Fs.mkdirSync(project)
  Fs.writeFileSync(
    Path.join(project, "package.json"),
    JSON.stringify(
      {
        name: "gatehouse-consumer",
        private: true,
        type: "module",
        dependencies: {
          ...Object.fromEntries(packed.map((entry) => [entry.name, `file:${entry.filename}`])),
          effect: installedVersion("effect"),
          "@effect/platform-node": installedVersion("@effect/platform-node")
        },
        devDependencies: {
          node: installedVersion("node"),
          typescript: installedVersion("typescript"),
          "@types/node": installedVersion("@types/node")
        },
        // npm runs no install scripts unless allowed: the `node` package's fetches the binary.
        allowScripts: { node: true }
      },
      null,
      2
    )
  )
  Fs.writeFileSync(
    Path.join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2023",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        types: ["node"],
        strict: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        verbatimModuleSyntax: true,
        // The installed declarations are checked too: a broken import in them must fail here.
        skipLibCheck: false
      },
      include: ["src"]
    })
  )
  // Every example, copied as a user would copy it: `src/<example>/`.
  for (const example of examples) {
    Fs.cpSync(Path.join(repo, "examples", example, "src"), Path.join(project, "src", example), { recursive: true })
  }
  Fs.writeFileSync(
    Path.join(project, "src", "probe.ts"),
    [
      `// If the installed declarations were missing, everything would be \`any\` and this would compile.`,
      `import { GatehouseServer } from "@gatehouse-auth/server"`,
      `// @ts-expect-error the port is a number`,
      `GatehouseServer.serve({ host: "127.0.0.1", port: "3000", stateDir: ".state", applicationScopes: [] })`,
      ``
    ].join("\n")
  )
  Fs.writeFileSync(
    Path.join(project, "src", "client-probe.ts"),
    [
      `// The browser client's declarations: the contract's types, real (a wrong one fails to compile).`,
      `import { createAuthClient, createGuestClient, GatehouseClientError } from "@gatehouse-auth/client"`,
      `const auth = createAuthClient({ baseUrl: "http://127.0.0.1:3773" })`,
      `void auth.resolveGateState().then((state) => {`,
      `  if (state.status === "authenticated") {`,
      `    const scopes: ReadonlyArray<string> = state.session.scopes`,
      `    // @ts-expect-error the subject is a string`,
      `    const subject: number = state.session.subject`,
      `    void scopes, subject`,
      `  } else if (state.status === "unreachable") {`,
      `    const error: GatehouseClientError = state.error`,
      `    void error.retryAfterSeconds`,
      `  }`,
      `})`,
      `void createGuestClient({ baseUrl: "http://127.0.0.1:3773", storage: null }).getToken().then((guest) => {`,
      `  const id: string = guest.guestId`,
      `  // @ts-expect-error expiresAt is a number`,
      `  const expiresAt: string = guest.expiresAt`,
      `  void id, expiresAt`,
      `})`,
      ``
    ].join("\n")
  )
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], project, 540_000)
  bin = (name) => Path.join(project, "node_modules", ".bin", name)
}, 600_000)

afterAll(() => {
  for (const child of children) child.kill("SIGKILL")
  if (work !== undefined) Fs.rmSync(work, { recursive: true, force: true })
})

describe("the packed packages, installed in a fresh project", () => {
  it("ship built JavaScript and declarations only", () => {
    assert.deepStrictEqual(packed.map((entry) => entry.name).sort(), [...packages].sort())
    for (const entry of packed) {
      const stray = entry.files.filter((file) =>
        !(file === "package.json" || file === "README.md" || file === "LICENSE" || file.startsWith("dist/"))
        || /(^|\/)test(s)?\//.test(file) || /\.test\.|\.spec\./.test(file)
        || (file.endsWith(".ts") && !file.endsWith(".d.ts"))
      )
      assert.deepStrictEqual(stray, [], entry.name)
      assert.include(entry.files, "dist/index.js", entry.name)
      assert.include(entry.files, "dist/index.d.ts", entry.name)
      assert.include(entry.files, "LICENSE", entry.name)
    }
  })

  it("bring the client without a runtime dependency", () => {
    const manifest = JSON.parse(
      Fs.readFileSync(Path.join(project, "node_modules", "@gatehouse-auth", "client", "package.json"), "utf8")
    )
    assert.isUndefined(manifest.dependencies)
    assert.deepStrictEqual(Object.keys(manifest.exports), [".", "./dpop", "./package.json"])
    const client = packed.find((entry) => entry.name === "@gatehouse-auth/client")!
    assert.includeMembers([...client.files], ["dist/dpop.js", "dist/dpop.d.ts"])
    const server = JSON.parse(
      Fs.readFileSync(Path.join(project, "node_modules", "@gatehouse-auth", "server", "package.json"), "utf8")
    )
    assert.property(server.dependencies, "@gatehouse-auth/client")
  })

  it("bring no benchmark peer: better-auth is in no packed package's dependency tree", async () => {
    // better-auth is a devDependency of the workspace root for bench/peer.ts only.
    for (const entry of packed) {
      const manifest = JSON.parse(
        Fs.readFileSync(Path.join(project, "node_modules", ...entry.name.split("/"), "package.json"), "utf8")
      )
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
        assert.notProperty(manifest[field] ?? {}, "better-auth", `${entry.name} ${field}`)
      }
    }
    // The whole installed tree of the tarballs (and what the project adds beside them) lacks it.
    // (`npm ls` exits non-zero for tree problems unrelated to this, so its output is what counts.)
    const listed = await run("npm", ["ls", "--all", "--json"], project).catch((error) => error)
    const stdout: string = listed.stdout ?? ""
    assert.include(stdout, "\"@gatehouse-auth/core\"")
    assert.notInclude(stdout, "\"better-auth\"")
    assert.notInclude(stdout, "@better-auth/")
    assert.isFalse(Fs.existsSync(Path.join(project, "node_modules", "better-auth")))
    assert.isFalse(Fs.existsSync(Path.join(project, "node_modules", "@better-auth")))
  })

  it("run on the project's own pinned Node 22", async () => {
    const { stdout } = await run(bin("node"), ["--version"], project)
    assert.match(stdout.trim(), /^v22\./)
  })

  it("import under plain Node, every package and subpath", async () => {
    const specifiers = [
      ...packages,
      "@gatehouse-auth/client/dpop",
      "@gatehouse-auth/testing/support",
      "@gatehouse-auth/server/GatehouseServer"
    ]
    const script = `for (const name of ${
      JSON.stringify(specifiers)
    }) { const m = await import(name); if (Object.keys(m).length === 0) throw new Error(name + " exports nothing"); console.log(name) }`
    const { stdout } = await run(bin("node"), ["--input-type=module", "-e", script], project)
    assert.deepStrictEqual(stdout.trim().split("\n"), specifiers)
  })

  it("type-check every example against the installed declarations", async () => {
    assert.includeMembers(examples, ["effect-server", "http-api", "desktop-shell"])
    const result = await run(bin("tsc"), ["-p", "tsconfig.json"], project).catch((error) => error)
    assert.strictEqual(result.code ?? 0, 0, `${result.stdout ?? ""}${result.stderr ?? ""}`)
  }, 180_000)

  it("run the example: it prints a pairing URL that pairs a client, which then uses the app", async () => {
    const port = await freePort()
    const started = await startChild(
      bin("node"),
      ["src/effect-server/main.ts"],
      { PORT: String(port), STATE_DIR: Path.join(work, "example-state") },
      /Pair this browser \(once\): (\S+)/
    )
    const url = new URL(started.match[1]!)
    const origin = `http://127.0.0.1:${port}`
    assert.strictEqual(url.origin, origin)
    const credential = new URLSearchParams(url.hash.slice(1)).get("token")
    const paired = await fetch(`${origin}/api/auth/bootstrap/bearer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ credential })
    })
    assert.strictEqual(paired.status, 200)
    const { accessToken } = await paired.json() as { accessToken: string }
    assert.strictEqual((await fetch(`${origin}/api/notes`)).status, 401)
    const notes = await fetch(`${origin}/api/notes`, { headers: { authorization: `Bearer ${accessToken}` } })
    assert.deepStrictEqual(await notes.json(), { notes: [] })
    assert.strictEqual(await stop(started), 0)
  })

  it("run the desktop-shell example: it launches the installed bin with the credential on fd 3", async () => {
    const started = await startChild(
      bin("node"),
      ["src/desktop-shell/main.ts", "--state-dir", Path.join(work, "desktop-state")],
      {},
      /^\s+(http:\/\/\S+\/pair#token=\S+)$/m
    )
    const url = new URL(started.match[1]!)
    const credential = new URLSearchParams(url.hash.slice(1)).get("token")
    const paired = await fetch(`${url.origin}/api/auth/bootstrap/bearer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ credential })
    })
    assert.strictEqual(paired.status, 200)
    assert.strictEqual((await paired.json() as { session: { method: string } }).session.method, "desktop")
    assert.strictEqual(await stop(started), 0)
  })

  it("bring no PostgreSQL driver to an SQLite user; asking for PostgreSQL says what to install", async () => {
    // `@effect/sql-pg` is an optional peer of the sql and server packages: npm leaves it out.
    assert.isFalse(Fs.existsSync(Path.join(project, "node_modules", "@effect", "sql-pg")))
    const result = await run(
      bin("gatehouse"),
      [
        "serve",
        "--port",
        "0",
        "--state-dir",
        Path.join(work, "pg-state"),
        "--database-url",
        "postgres://u:p@127.0.0.1:1/db"
      ],
      project
    ).catch((error: { readonly stdout: string; readonly stderr: string }) => error)
    assert.include(`${result.stdout}${result.stderr}`, "npm install @effect/sql-pg")
  })

  it("install a working `gatehouse` bin: --help, then serve over loopback and stop on SIGTERM", async () => {
    const help = await run(bin("gatehouse"), ["--help"], project)
    assert.include(help.stdout, "serve")
    const port = await freePort()
    const started = await startChild(
      bin("gatehouse"),
      ["serve", "--port", String(port), "--state-dir", Path.join(work, "serve-state")],
      {},
      /Pairing URL: (\S+)/
    )
    const session = await fetch(`http://127.0.0.1:${port}/api/auth/session`)
    assert.strictEqual(session.status, 200)
    assert.strictEqual((await session.json() as { authenticated: boolean }).authenticated, false)
    const page = await fetch(`http://127.0.0.1:${port}/pair`)
    assert.strictEqual(page.status, 200)
    assert.include(await page.text(), "<html")
    // The page's client is the installed package's build, served as it is.
    const client = await fetch(`http://127.0.0.1:${port}/pair/client.js`)
    assert.strictEqual(client.status, 200)
    assert.strictEqual(
      await client.text(),
      Fs.readFileSync(Path.join(project, "node_modules", "@gatehouse-auth", "client", "dist", "index.js"), "utf8")
    )
    // And the page runs on it in a browser, when one is installed.
    if (Fs.existsSync("/usr/bin/chromium")) {
      const browser = await chromium.launch({
        executablePath: "/usr/bin/chromium",
        args: ["--headless", "--no-sandbox"]
      })
      try {
        const tab = await browser.newPage()
        const problems: Array<string> = []
        tab.on("pageerror", (error) => problems.push(error.message))
        await tab.goto(`http://127.0.0.1:${port}/pair`)
        await tab.waitForSelector("#pair-view:not([hidden])", { timeout: 15_000 })
        assert.deepStrictEqual(problems, [])
      } finally {
        await browser.close()
      }
    }
    assert.strictEqual(await stop(started), 0)
  })
})
