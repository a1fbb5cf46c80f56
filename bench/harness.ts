/**
 * A small side-by-side benchmark harness. Candidates run in interleaved rounds (A, B, C, A, B, C,
 * ...) so that warm-up, GC and the other core's noise hit them alike; each reports the median of
 * its rounds in operations per second, with the slowest and fastest round beside it.
 *
 * `GATEHOUSE_BENCH_SMOKE=1` (the bench smoke test) runs 2 short rounds: every figure is computed
 * and nothing means anything. `GATEHOUSE_BENCH_RESULTS` moves `bench/results/` elsewhere.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

export const smoke = process.env.GATEHOUSE_BENCH_SMOKE === "1"

/** Where every benchmark writes its JSON, and `npm run bench` its summary. */
export const resultsDirectory = process.env.GATEHOUSE_BENCH_RESULTS ?? Path.join(import.meta.dirname, "results")

export interface Candidate {
  readonly name: string
  /** Runs `iterations` operations. */
  readonly run: (iterations: number) => void | Promise<void>
  /** Runs after each of this candidate's rounds, untimed (a correctness probe, say). */
  readonly check?: () => void | Promise<void>
}

export interface Result {
  readonly name: string
  /** The median round. */
  readonly opsPerSecond: number
  readonly min: number
  readonly max: number
  readonly rounds: ReadonlyArray<number>
}

/** `global.gc` when node runs with --expose-gc (npm run bench does). */
const collectGarbage = (): void => (globalThis as { gc?: () => void }).gc?.()

export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** Calibrates a batch size of about `roundMillis` for each candidate, then runs `rounds` rounds. */
export const compare = async (
  candidates: ReadonlyArray<Candidate>,
  options: {
    readonly rounds?: number
    readonly roundMillis?: number
    /**
     * Force a full GC before each round (default true). Turn it off for a whole server: forced
     * full GCs make V8 drop compiled code and the rounds then measure recompilation.
     */
    readonly collectGarbage?: boolean
  } = {}
): Promise<ReadonlyArray<Result>> => {
  const rounds = smoke ? 2 : options.rounds ?? 7
  const roundMillis = smoke ? 40 : options.roundMillis ?? 300
  const batches = new Map<string, number>()
  for (const candidate of candidates) {
    let iterations = smoke ? 20 : 100
    for (let attempt = 0; attempt < 20; attempt++) {
      const started = performance.now()
      await candidate.run(iterations)
      const elapsed = performance.now() - started
      if (elapsed >= roundMillis / 4) {
        iterations = Math.max(1, Math.round(iterations * roundMillis / elapsed))
        break
      }
      iterations *= 4
    }
    batches.set(candidate.name, iterations)
  }
  const samples = new Map(candidates.map((candidate) => [candidate.name, [] as Array<number>]))
  for (let round = 0; round < rounds; round++) {
    for (const candidate of candidates) {
      // Collect the previous candidate's garbage so that it is not charged to this one.
      if (options.collectGarbage !== false) collectGarbage()
      const iterations = batches.get(candidate.name)!
      const started = performance.now()
      await candidate.run(iterations)
      samples.get(candidate.name)!.push(iterations / ((performance.now() - started) / 1000))
      await candidate.check?.()
    }
  }
  return candidates.map(({ name }) => {
    const rounds = samples.get(name)!
    return { name, opsPerSecond: median(rounds), min: Math.min(...rounds), max: Math.max(...rounds), rounds }
  })
}

export interface Ratio {
  readonly name: string
  readonly numerator: string
  readonly denominator: string
  /** The ratio of the two medians. */
  readonly value: number
  /** The lowest and highest ratio of one round's figures (round i against round i). */
  readonly min: number
  readonly max: number
  /** The ratio the project aims for (value >= target); 0 for an informational one. */
  readonly target: number
}

export const ratio = (
  results: ReadonlyArray<Result>,
  name: string,
  numerator: string,
  denominator: string,
  target: number
): Ratio => {
  const find = (n: string) => {
    const found = results.find((result) => result.name === n)
    if (found === undefined) throw new Error(`no result named ${n}`)
    return found
  }
  const top = find(numerator)
  const bottom = find(denominator)
  const perRound = top.rounds.map((value, i) => value / bottom.rounds[i]!)
  return {
    name,
    numerator,
    denominator,
    value: top.opsPerSecond / bottom.opsPerSecond,
    min: Math.min(...perRound),
    max: Math.max(...perRound),
    target
  }
}

export const verdict = (value: number, target: number) =>
  target === 0 ? "informational" : value >= target ? "yes" : `NO (${((value / target) * 100).toFixed(0)}% of target)`

/** Prints a table and writes `<results>/<file>.json`. */
export const report = (
  file: string,
  results: ReadonlyArray<Result>,
  ratios: ReadonlyArray<Ratio>,
  extra: Record<string, unknown> = {}
) => {
  console.log(`\n${file}`)
  console.table(results.map(({ max, min, name, opsPerSecond }) => ({
    name,
    "ops/s": Math.round(opsPerSecond),
    min: Math.round(min),
    max: Math.round(max)
  })))
  console.table(ratios.map(({ max, min, name, target, value }) => ({
    ratio: name,
    value: Number(value.toFixed(3)),
    "round min-max": `${min.toFixed(2)}-${max.toFixed(2)}`,
    target: target === 0 ? "-" : `>= ${target}`,
    met: verdict(value, target)
  })))
  Fs.mkdirSync(resultsDirectory, { recursive: true })
  Fs.writeFileSync(
    Path.join(resultsDirectory, `${file}.json`),
    JSON.stringify(
      { date: new Date().toISOString(), node: process.version, smoke, results, ratios, ...extra },
      null,
      2
    ) + "\n"
  )
}
