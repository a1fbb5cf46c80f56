// The browser client's size, bundled, minified and gzipped (packages/client/scripts/size.ts): a
// figure to watch, like the others; the 6 KiB budget itself is a test (packages/client/test/size.test.ts).
import * as Fs from "node:fs"
import * as Path from "node:path"
import { budgetBytes, describe, measure } from "../packages/client/scripts/size.ts"
import { resultsDirectory } from "./harness.ts"

export const run = async () => {
  console.log("\n== clientSize: @gatehouse-auth/client, minified and gzipped")
  const size = await measure()
  console.log(describe(size))
  const directory = resultsDirectory
  Fs.mkdirSync(directory, { recursive: true })
  Fs.writeFileSync(
    Path.join(directory, "clientSize.json"),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, ...size, budgetBytes }, null, 2) + "\n"
  )
}
