/**
 * `npm run soak`: does memory stay flat under a long run? The reference stack (GatehouseServer on
 * SQLite, a fresh state directory) in this process; 100 000 sessions seeded through
 * `SessionCredentialService` (not through HTTP pairing); then 1 000 000 authenticated GETs over
 * loopback at a fixed concurrency, from 64 loopback source addresses, by bench/loadGenerator.ts in
 * a child process (so its memory is not ours), each job cycling through 2 000 of the sessions.
 * RSS, heap and event-loop delay are sampled every second. Writes `<results>/soak.json` and
 * `<results>/soak.svg` (RSS over time).
 *
 * Target: RSS after the warm-up (the first half) grows by less than 10% over the last half; no
 * request fails. The process exits 1 when a request failed (the growth is reported, not enforced:
 * a figure for a person to read).
 *
 * `GATEHOUSE_SOAK_SMOKE=1`: 1 000 sessions, 20 000 requests (the CI smoke test);
 * `GATEHOUSE_SOAK_SESSIONS`, `GATEHOUSE_SOAK_REQUESTS`, `GATEHOUSE_SOAK_CONCURRENCY` override;
 * `GATEHOUSE_SOAK_RESULTS` names the output directory (default bench/results).
 */
import { Effect, Redacted } from "effect"
import { fork } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type { Done, Job } from "./loadGenerator.ts"
import { gatehouseInstance } from "./peerGatehouse.ts"
import { applicationScopes, body, path, temporary } from "./peerShared.ts"

const smoke = process.env.GATEHOUSE_SOAK_SMOKE === "1"
const number = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number of at least 1`)
  return value
}
const sessionCount = number("GATEHOUSE_SOAK_SESSIONS", smoke ? 1_000 : 100_000)
const requestCount = number("GATEHOUSE_SOAK_REQUESTS", smoke ? 20_000 : 1_000_000)
const concurrency = number("GATEHOUSE_SOAK_CONCURRENCY", 32)
const perJob = Math.min(requestCount, smoke ? 5_000 : 20_000)
const tokensPerJob = Math.min(sessionCount, 2_000)
const sourceAddresses = Array.from({ length: 64 }, (_, i) => `127.0.${1 + (i >> 4)}.${1 + (i & 15)}`)
const results = process.env.GATEHOUSE_SOAK_RESULTS ?? Path.join(import.meta.dirname, "results")

interface Sample {
  /** Seconds since the load started. */
  readonly t: number
  readonly rssMiB: number
  readonly heapUsedMiB: number
  readonly loopDelayP99Ms: number
  readonly loopDelayMaxMs: number
  readonly answered: number
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 104.857_6) / 10

const main = async () => {
  const stateDir = temporary()
  const server = await gatehouseInstance(stateDir)
  const { sessions } = server
  console.log(`soak: seeding ${sessionCount} sessions`)
  const seedStarted = performance.now()
  const tokens: Array<string> = []
  for (let i = 0; i < sessionCount; i++) {
    const issued = await Effect.runPromise(sessions.issue({
      subject: `user-${i % 1000}`,
      scopes: applicationScopes,
      method: "pairing"
    }))
    tokens.push(Redacted.value(issued.token))
  }
  const seedSeconds = (performance.now() - seedStarted) / 1000
  const requestFor = (token: string) =>
    `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nauthorization: Bearer ${token}\r\n\r\n`

  const generator = fork(Path.join(import.meta.dirname, "loadGenerator.ts"), [], {
    execArgv: ["--conditions=@gatehouse-auth/source"],
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const pending = new Map<number, (done: Done) => void>()
  generator.on("message", (done: Done) => pending.get(done.id)?.(done))
  const runJob = (job: Job) =>
    new Promise<Done>((resolve) => {
      pending.set(job.id, resolve)
      generator.send(job)
    })

  const samples: Array<Sample> = []
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  let answered = 0
  const started = performance.now()
  const sample = () => {
    const memory = process.memoryUsage()
    samples.push({
      t: Math.round((performance.now() - started) / 100) / 10,
      rssMiB: mib(memory.rss),
      heapUsedMiB: mib(memory.heapUsed),
      loopDelayP99Ms: Math.round(delay.percentile(99) / 1e4) / 100,
      loopDelayMaxMs: Math.round(delay.max / 1e4) / 100,
      answered
    })
    delay.reset()
  }
  sample()
  const timer = setInterval(sample, 1000)

  console.log(`soak: ${requestCount} requests, concurrency ${concurrency}, ${sourceAddresses.length} source addresses`)
  let failures = 0
  let firstFailure: string | undefined
  for (let id = 0; answered < requestCount; id++) {
    const first = (id * tokensPerJob) % sessionCount
    const variants = Array.from({ length: tokensPerJob }, (_, i) => requestFor(tokens[(first + i) % sessionCount]!))
    const requests = Math.min(perJob, requestCount - answered)
    const done = await runJob({
      id,
      port: server.port,
      request: variants[0]!,
      variants,
      requests,
      concurrency,
      expectStatus: 200,
      expectBody: body,
      localAddresses: sourceAddresses
    })
    answered += requests
    failures += done.failures
    firstFailure ??= done.firstFailure
  }
  const seconds = (performance.now() - started) / 1000
  sample()
  clearInterval(timer)
  delay.disable()
  generator.disconnect()
  await server.close()
  Fs.rmSync(stateDir, { recursive: true, force: true })

  // Growth over the last half: the median RSS of the samples around the middle against the end.
  const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? 0
  const middle = samples.length >> 1
  const atMiddle = median(samples.slice(Math.max(0, middle - 2), middle + 3).map((each) => each.rssMiB))
  const atEnd = median(samples.slice(-5).map((each) => each.rssMiB))
  const growth = atMiddle === 0 ? 0 : (atEnd - atMiddle) / atMiddle
  const report = {
    smoke,
    sessions: sessionCount,
    requests: requestCount,
    concurrency,
    sourceAddresses: sourceAddresses.length,
    failures,
    firstFailure,
    seedSeconds: Math.round(seedSeconds * 10) / 10,
    loadSeconds: Math.round(seconds * 10) / 10,
    requestsPerSecond: Math.round(requestCount / seconds),
    rssMiB: {
      start: samples[0]?.rssMiB,
      middle: atMiddle,
      end: atEnd,
      peak: Math.max(...samples.map((s) => s.rssMiB))
    },
    rssGrowthOverLastHalf: Math.round(growth * 1000) / 1000,
    target: "RSS grows < 10% over the last half; no request fails",
    met: failures === 0 && growth < 0.1,
    samples
  }
  Fs.mkdirSync(results, { recursive: true })
  Fs.writeFileSync(Path.join(results, "soak.json"), `${JSON.stringify(report, null, 2)}\n`)
  Fs.writeFileSync(Path.join(results, "soak.svg"), plot(samples, report))
  console.log(
    `soak: ${requestCount} requests in ${report.loadSeconds} s (${report.requestsPerSecond}/s), ${failures} failed; ` +
      `RSS ${report.rssMiB.start} -> ${atMiddle} -> ${atEnd} MiB (last half ${(growth * 100).toFixed(1)}%)`
  )
  if (failures > 0) {
    console.error(`soak: ${failures} requests failed, first: ${firstFailure}`)
    process.exitCode = 1
  }
}

/** RSS (and heap) over time as an SVG line chart. */
const plot = (samples: ReadonlyArray<Sample>, report: { readonly sessions: number; readonly requests: number }) => {
  const width = 720
  const height = 320
  const left = 56
  const bottom = 40
  const top = 36
  const right = 16
  const maxT = Math.max(1, ...samples.map((s) => s.t))
  const maxY = Math.max(1, ...samples.map((s) => s.rssMiB)) * 1.1
  const x = (t: number) => left + (t / maxT) * (width - left - right)
  const y = (v: number) => height - bottom - (v / maxY) * (height - top - bottom)
  const line = (pick: (s: Sample) => number) =>
    samples.map((s) => `${x(s.t).toFixed(1)},${y(pick(s)).toFixed(1)}`).join(" ")
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = Math.round(maxY * f)
    return `<line x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>` +
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`
  }).join("")
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="20" font-size="13">Soak: RSS over time (${report.sessions} sessions, ${report.requests} requests)</text>
${ticks}
<line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="#999"/>
<line x1="${x(maxT / 2)}" x2="${x(maxT / 2)}" y1="${top}" y2="${height - bottom}" stroke="#bbb" stroke-dasharray="4 3"/>
<text x="${x(maxT / 2) + 4}" y="${top + 10}">last half</text>
<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="${line((s) => s.rssMiB)}"/>
<polyline fill="none" stroke="#d29922" stroke-width="1.5" points="${line((s) => s.heapUsedMiB)}"/>
<text x="${width - right}" y="${
    top - 8
  }" text-anchor="end"><tspan fill="#1f6feb">RSS</tspan> / <tspan fill="#d29922">heap used</tspan> (MiB)</text>
<text x="${left}" y="${height - 12}">0 s</text>
<text x="${width - right}" y="${height - 12}" text-anchor="end">${Math.round(maxT)} s</text>
</svg>
`
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
