/**
 * The client's size as a browser app ships it: bundled and minified with rolldown (Vite's bundler,
 * in this workspace through vitest), then gzipped at level 9. The budget is 6 KiB for the whole
 * package; `test/size.test.ts` fails above it. Run directly (`node scripts/size.ts [file]`, as the
 * build and `npm run bench` do), it prints the figure for `dist/index.js` when built, else the source.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"
import { build } from "rolldown"

export const budgetBytes = 6 * 1024

const root = Path.resolve(import.meta.dirname, "..")
export const sourceEntry = Path.join(root, "src", "index.ts")
export const builtEntry = Path.join(root, "dist", "index.js")

export interface Size {
  readonly entry: string
  readonly minifiedBytes: number
  readonly gzippedBytes: number
}

export const measure = async (entry: string = sourceEntry): Promise<Size> => {
  const result = await build({
    input: entry,
    write: false,
    logLevel: "silent",
    output: { format: "esm", minify: true }
  })
  const code = result.output.map((chunk) => chunk.type === "chunk" ? chunk.code : "").join("")
  return {
    entry: Path.relative(root, entry),
    minifiedBytes: Buffer.byteLength(code),
    gzippedBytes: Zlib.gzipSync(code, { level: 9 }).length
  }
}

export const describe = (size: Size): string =>
  `@gatehouse-auth/client (${size.entry}): ${size.minifiedBytes} B minified, ${size.gzippedBytes} B minified+gzipped (budget ${budgetBytes} B)`

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const entry = process.argv[2] ?? (Fs.existsSync(builtEntry) ? builtEntry : sourceEntry)
  const size = await measure(entry)
  console.log(describe(size))
  if (size.gzippedBytes > budgetBytes) {
    console.error("over budget")
    process.exitCode = 1
  }
}
