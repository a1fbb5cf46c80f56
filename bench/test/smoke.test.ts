/**
 * The bench smoke test: `npm run bench`'s script in smoke mode (`GATEHOUSE_BENCH_SMOKE=1`: two
 * short rounds), writing into a temp directory instead of bench/results. It checks that every
 * benchmark ran and computed every ratio, that every peer server answered 200 with the expected
 * body (and every bad and revoked token 401), and that the summary table and the chart were
 * written. No timing figure is asserted: those belong in the bench output.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const repo = Path.resolve(import.meta.dirname, "..", "..")
const exec = promisify(execFile)

let results: string
let output: string

const read = (name: string) => JSON.parse(Fs.readFileSync(Path.join(results, `${name}.json`), "utf8"))

beforeAll(async () => {
  results = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-smoke-"))
  const { stderr, stdout } = await exec(
    process.execPath,
    [
      "--conditions=@gatehouse-auth/source",
      "--expose-gc",
      "--disable-warning=ExperimentalWarning",
      "bench/run.ts"
    ],
    {
      cwd: repo,
      timeout: 230_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, GATEHOUSE_BENCH_SMOKE: "1", GATEHOUSE_BENCH_RESULTS: results }
    }
  )
  output = stdout + stderr
}, 240_000)

afterAll(() => {
  if (results !== undefined) Fs.rmSync(results, { recursive: true, force: true })
})

describe("npm run bench (smoke mode)", () => {
  it("runs every benchmark and computes every ratio", () => {
    for (
      const name of [
        "verify",
        "sqlVerify",
        "guestLookup",
        "mcpResolve",
        "consumeRace",
        "authenticatedRoute",
        "peer",
        "dpop",
        "dpopRoute"
      ]
    ) {
      const file = read(name)
      assert.isTrue(file.smoke, name)
      assert.isAbove(file.ratios.length, 0, name)
      for (const ratio of file.ratios) {
        assert.isTrue(Number.isFinite(ratio.value) && ratio.value > 0, `${name}: ${ratio.name}`)
        assert.isTrue(ratio.min <= ratio.max, `${name}: ${ratio.name}`)
      }
      for (const result of file.results) assert.isAbove(result.opsPerSecond, 0, `${name}: ${result.name}`)
    }
    assert.isTrue(Fs.existsSync(Path.join(results, "clientSize.json")))
  })

  it("has every peer answer 200 with the expected body, and every bad and revoked token 401", () => {
    const peer = read("peer")
    assert.deepStrictEqual(peer.problems, [])
    assert.isTrue(peer.valid)
    assert.isAbove(peer.answered, 0)
    const names = peer.results.map((result: { name: string }) => result.name)
    for (
      const expected of [
        "Gatehouse (bearer, SQLite)",
        "Gatehouse (cookie, SQLite)",
        "better-auth (bearer, database sessions)",
        "better-auth (cookie, database sessions)",
        "better-auth (cookie, cookieCache)",
        "bare node:http (no auth)",
        "load generator ceiling (canned net server)"
      ]
    ) assert.include(names, expected)
    assert.match(peer.betterAuthVersion, /^\d+\.\d+\.\d+$/)
    for (const kind of ["gatehouse", "better-auth", "better-auth-cookie-cache", "bare", "canned"]) {
      assert.isAbove(peer.rssMiB[kind], 0, kind)
    }
    // The report prints the staleness of each side after a revoke and whether it pinned cores.
    assert.include(output, "staleness after a revoke")
    assert.include(output, "pinning:")
  })

  it("ends with one table of every ratio and writes summary.md and ratios.svg", () => {
    assert.include(output, "summary: every ratio of this run against its target")
    const summary = Fs.readFileSync(Path.join(results, "summary.md"), "utf8")
    const svg = Fs.readFileSync(Path.join(results, "ratios.svg"), "utf8")
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    // Every benchmark that wrote ratios (a new one joins the summary without a change here).
    const targeted = Fs.readdirSync(results)
      .filter((name) => name.endsWith(".json"))
      .flatMap((name) => read(name.replace(/\.json$/, "")).ratios ?? [])
      .filter((ratio: { target: number }) => ratio.target > 0)
    for (const ratio of targeted) {
      assert.include(summary, `| ${ratio.name} |`)
      assert.include(svg, ratio.name.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"))
    }
    // One bar per ratio with a target, on a background.
    assert.strictEqual(svg.match(/<rect /g)!.length, targeted.length + 1)
  })
})
