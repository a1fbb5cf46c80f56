/**
 * The soak smoke test: `npm run soak`'s script in smoke mode (`GATEHOUSE_SOAK_SMOKE=1`: 1 000
 * seeded sessions, 20 000 authenticated requests from 64 loopback source addresses), writing into
 * a temp directory. It checks that the run completed with no failed request, sampled memory and
 * event-loop delay, and wrote its report and plot. No timing or memory figure is asserted: those
 * belong in the report (docs/performance.md).
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, assert, describe, it } from "vitest"

const repo = Path.resolve(import.meta.dirname, "..", "..")
const results = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-soak-smoke-"))

afterAll(() => Fs.rmSync(results, { recursive: true, force: true }))

describe("npm run soak (smoke)", () => {
  it(
    "seeds sessions, answers every authenticated request 200, samples memory, writes soak.json and soak.svg",
    async () => {
      await promisify(execFile)(
        process.execPath,
        ["--conditions=@gatehouse-auth/source", "--disable-warning=ExperimentalWarning", "bench/soak.ts"],
        {
          cwd: repo,
          timeout: 180_000,
          maxBuffer: 16 * 1024 * 1024,
          env: { ...process.env, GATEHOUSE_SOAK_SMOKE: "1", GATEHOUSE_SOAK_RESULTS: results }
        }
      )
      const report = JSON.parse(Fs.readFileSync(Path.join(results, "soak.json"), "utf8"))
      assert.strictEqual(report.sessions, 1_000)
      assert.strictEqual(report.requests, 20_000)
      assert.strictEqual(report.sourceAddresses, 64)
      assert.strictEqual(report.failures, 0, report.firstFailure)
      assert.isAtLeast(report.samples.length, 2)
      for (const sample of report.samples) {
        assert.isAbove(sample.rssMiB, 0)
        assert.isAtLeast(sample.loopDelayP99Ms, 0)
      }
      assert.strictEqual(report.samples.at(-1).answered, 20_000)
      const svg = Fs.readFileSync(Path.join(results, "soak.svg"), "utf8")
      assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
      assert.include(svg, "<polyline")
    },
    200_000
  )
})
