/**
 * The closing report of `npm run bench`: every ratio that the benchmarks of this run wrote
 * (`<results>/*.json` dated since the run started), against its target, as one table on the
 * terminal, `summary.md` and `ratios.svg` (a bar per ratio, scaled to its target, whose line is
 * drawn; the whisker is the ratio's lowest and highest round).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Ratio, resultsDirectory, verdict } from "./harness.ts"

export interface Row extends Ratio {
  readonly bench: string
  /** False when the benchmark marked its run invalid (bench/peer.ts). */
  readonly valid: boolean
}

interface File {
  readonly date: string
  readonly ratios?: ReadonlyArray<Ratio>
  readonly valid?: boolean
  readonly pinning?: { readonly how: string }
  readonly betterAuthVersion?: string
  readonly smoke?: boolean
}

/** The machine, as a line for the report. */
export const machine = () => {
  const cpus = Os.cpus()
  return `${cpus[0]?.model.trim() ?? "unknown CPU"}, ${cpus.length} cores, ${
    Math.round(Os.totalmem() / 2 ** 30)
  } GiB, ` +
    `${Os.type()} ${Os.release()}, Node ${process.version}`
}

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const fixed = (value: number) => value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

/** The chart: one bar per ratio with a target, its length value / target (the target line at 1). */
export const chart = (rows: ReadonlyArray<Row>, title: string) => {
  const targeted = rows.filter((row) => row.target > 0)
  const width = 960
  const left = 20
  const barWidth = 640
  const cap = 3 // a bar past 3x its target is drawn to 3x, its figure still printed
  const x = (share: number) => left + (Math.min(share, cap) / cap) * barWidth
  const rowHeight = 44
  const top = 56
  const height = top + targeted.length * rowHeight + 40
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="${left}" y="40" fill="#555">Each bar is a ratio divided by its target: the dashed line is the target (1x). Whiskers: lowest and highest round. Bars are cut at ${cap}x.</text>`
  ]
  targeted.forEach((row, i) => {
    const y = top + i * rowHeight
    const met = row.value >= row.target
    const colour = !row.valid ? "#999999" : met ? "#2e7d32" : "#c62828"
    parts.push(
      `<text x="${left}" y="${y + 12}">${escape(`${row.bench}: ${row.name}`)}${
        row.valid ? "" : " (RUN INVALID)"
      }</text>`,
      `<rect x="${left}" y="${y + 18}" width="${
        (x(row.value / row.target) - left).toFixed(1)
      }" height="14" fill="${colour}"/>`,
      `<line x1="${x(row.min / row.target).toFixed(1)}" x2="${x(row.max / row.target).toFixed(1)}" y1="${y + 25}" y2="${
        y + 25
      }" stroke="#000" stroke-width="1"/>`,
      `<text x="${left + barWidth + 12}" y="${y + 30}">${fixed(row.value)}x (target &gt;= ${row.target}x) ${
        met ? "met" : `not met: ${((row.value / row.target) * 100).toFixed(0)}%`
      }</text>`
    )
  })
  const lineX = x(1).toFixed(1)
  parts.push(
    `<line x1="${lineX}" x2="${lineX}" y1="${top}" y2="${
      top + targeted.length * rowHeight
    }" stroke="#000" stroke-dasharray="4 3"/>`,
    `<text x="${lineX}" y="${top + targeted.length * rowHeight + 16}" text-anchor="middle">target</text>`,
    `</svg>`
  )
  return parts.join("\n") + "\n"
}

export const markdownTable = (rows: ReadonlyArray<Row>) =>
  [
    "| benchmark | ratio | median | rounds min-max | target | met |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) =>
      `| ${row.bench} | ${row.name} | ${fixed(row.value)} | ${fixed(row.min)}-${fixed(row.max)} | ${
        row.target === 0 ? "-" : `>= ${row.target}`
      } | ${row.valid ? verdict(row.value, row.target) : "RUN INVALID"} |`
    )
  ].join("\n")

/** Prints the table and writes `summary.md` and `ratios.svg`; returns the rows. */
export const summarize = (since: Date, loadAverageAtStart: ReadonlyArray<number>) => {
  const files = Fs.existsSync(resultsDirectory)
    ? Fs.readdirSync(resultsDirectory).filter((name) => name.endsWith(".json")).sort()
    : []
  const rows: Array<Row> = []
  const notes: Array<string> = []
  for (const name of files) {
    const file = JSON.parse(Fs.readFileSync(Path.join(resultsDirectory, name), "utf8")) as File
    if (new Date(file.date) < since) continue
    const bench = name.replace(/\.json$/, "")
    const valid = file.valid !== false
    for (const ratio of file.ratios ?? []) rows.push({ ...ratio, bench, valid })
    if (file.pinning) notes.push(`${bench}: ${file.pinning.how}`)
    if (file.betterAuthVersion) notes.push(`${bench}: better-auth ${file.betterAuthVersion} (pinned devDependency)`)
    if (!valid) notes.push(`${bench}: RUN INVALID (see bench/results/${name}, "problems")`)
  }
  const load = `load average ${loadAverageAtStart.map((n) => n.toFixed(2)).join(" ")} at the start, ${
    Os.loadavg().map((n) => n.toFixed(2)).join(" ")
  } at the end`
  console.log("\nsummary: every ratio of this run against its target")
  console.table(rows.map((row) => ({
    benchmark: row.bench,
    ratio: row.name,
    median: Number(row.value.toFixed(3)),
    "min-max": `${fixed(row.min)}-${fixed(row.max)}`,
    target: row.target === 0 ? "-" : `>= ${row.target}`,
    met: row.valid ? verdict(row.value, row.target) : "RUN INVALID"
  })))
  const targeted = rows.filter((row) => row.target > 0)
  const met = targeted.filter((row) => row.valid && row.value >= row.target).length
  console.log(`${met} of ${targeted.length} targets met; ${load}`)
  for (const note of notes) console.log(note)
  const date = new Date().toISOString()
  Fs.mkdirSync(resultsDirectory, { recursive: true })
  Fs.writeFileSync(
    Path.join(resultsDirectory, "summary.md"),
    [
      `# Bench summary`,
      ``,
      `${date}. ${machine()}; ${load}.`,
      ``,
      ...notes.map((note) => `- ${note}`),
      ``,
      markdownTable(rows),
      ``,
      `${met} of ${targeted.length} targets met. Medians of interleaved rounds; min-max is the ratio of the slowest and fastest round (round i against round i).`,
      ``
    ].join("\n")
  )
  Fs.writeFileSync(
    Path.join(resultsDirectory, "ratios.svg"),
    chart(rows, `npm run bench, ${date.slice(0, 10)}: ${met} of ${targeted.length} targets met (${machine()})`)
  )
  return rows
}
