/**
 * A small side-by-side benchmark harness. Candidates run in interleaved rounds (A, B, C, A, B, C,
 * ...) so that warm-up, GC and the other core's noise hit them alike; each reports the median of
 * its rounds in operations per second.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

export interface Candidate {
  readonly name: string
  /** Runs `iterations` operations. */
  readonly run: (iterations: number) => void | Promise<void>
}

export interface Result {
  readonly name: string
  readonly opsPerSecond: number
  readonly rounds: ReadonlyArray<number>
}

/** `global.gc` when node runs with --expose-gc (npm run bench does). */
const collectGarbage = (): void => (globalThis as { gc?: () => void }).gc?.()

const median = (values: ReadonlyArray<number>) => {
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
  const rounds = options.rounds ?? 7
  const roundMillis = options.roundMillis ?? 300
  const batches = new Map<string, number>()
  for (const candidate of candidates) {
    let iterations = 100
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
    }
  }
  return candidates.map(({ name }) => ({ name, opsPerSecond: median(samples.get(name)!), rounds: samples.get(name)! }))
}

export interface Ratio {
  readonly name: string
  readonly numerator: string
  readonly denominator: string
  readonly value: number
  /** The ratio the project aims for (value >= target). */
  readonly target: number
}

export const ratio = (
  results: ReadonlyArray<Result>,
  name: string,
  numerator: string,
  denominator: string,
  target: number
): Ratio => {
  const find = (n: string) => results.find((result) => result.name === n)!.opsPerSecond
  return { name, numerator, denominator, value: find(numerator) / find(denominator), target }
}

/** Prints a table and writes `bench/results/<file>.json`. */
export const report = (
  file: string,
  results: ReadonlyArray<Result>,
  ratios: ReadonlyArray<Ratio>,
  extra: Record<string, unknown> = {}
) => {
  console.log(`\n${file}`)
  console.table(results.map(({ name, opsPerSecond }) => ({ name, "ops/s": Math.round(opsPerSecond) })))
  console.table(ratios.map(({ name, target, value }) => ({
    ratio: name,
    value: Number(value.toFixed(3)),
    target: `>= ${target}`,
    met: value >= target ? "yes" : `NO (${((value / target) * 100).toFixed(0)}% of target)`
  })))
  const directory = Path.join(import.meta.dirname, "results")
  Fs.mkdirSync(directory, { recursive: true })
  Fs.writeFileSync(
    Path.join(directory, `${file}.json`),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, results, ratios, ...extra }, null, 2) + "\n"
  )
}
