/**
 * The client's size as a browser app ships it: bundled and minified with rolldown (Vite's bundler,
 * in this workspace through vitest), then gzipped at level 9. The budget is 6 KiB for the base entry
 * and 3 KiB for the optional `./dpop` entry (measured on its own, with what it takes from the base);
 * `test/size.test.ts` fails above either. Run directly (`node scripts/size.ts [file]`, as the build
 * and `npm run bench` do), it prints the figures for `dist/` when built, else the sources.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Zlib from "node:zlib"
import { build } from "rolldown"

export const budgetBytes = 6 * 1024
/** The `./dpop` entry's own budget: an app that binds its tokens ships it beside the base. */
export const dpopBudgetBytes = 3 * 1024

const root = Path.resolve(import.meta.dirname, "..")
export const sourceEntry = Path.join(root, "src", "index.ts")
export const builtEntry = Path.join(root, "dist", "index.js")
export const dpopSourceEntry = Path.join(root, "src", "dpop.ts")
export const dpopBuiltEntry = Path.join(root, "dist", "dpop.js")

export interface Size {
  readonly entry: string
  readonly minifiedBytes: number
  readonly gzippedBytes: number
  /** The minified bundle. */
  readonly code: string
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
    gzippedBytes: Zlib.gzipSync(code, { level: 9 }).length,
    code
  }
}

export const describe = (size: Omit<Size, "code">, budget: number = budgetBytes): string =>
  `@gatehouse-auth/client (${size.entry}): ${size.minifiedBytes} B minified, ${size.gzippedBytes} B minified+gzipped (budget ${budget} B)`

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = Fs.existsSync(builtEntry)
  const entries: Array<readonly [string, number]> = process.argv[2] !== undefined
    ? [[process.argv[2], budgetBytes]]
    : [[built ? builtEntry : sourceEntry, budgetBytes], [built ? dpopBuiltEntry : dpopSourceEntry, dpopBudgetBytes]]
  for (const [entry, budget] of entries) {
    const size = await measure(entry)
    console.log(describe(size, budget))
    if (size.gzippedBytes > budget) {
      console.error("over budget")
      process.exitCode = 1
    }
  }
}
