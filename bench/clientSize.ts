// The browser client's size, bundled, minified and gzipped (packages/client/scripts/size.ts): a
// figure to watch, like the others; the 6 KiB budget itself is a test (packages/client/test/size.test.ts).
import * as Fs from "node:fs"
import * as Path from "node:path"
import { budgetBytes, describe, dpopBudgetBytes, dpopSourceEntry, measure } from "../packages/client/scripts/size.ts"
import { resultsDirectory } from "./harness.ts"

export const run = async () => {
  console.log("\n== clientSize: @gatehouse-auth/client, minified and gzipped")
  const { code: _, ...size } = await measure()
  console.log(describe(size))
  const { code: __, ...dpop } = await measure(dpopSourceEntry)
  console.log(describe(dpop, dpopBudgetBytes))
  const directory = resultsDirectory
  Fs.mkdirSync(directory, { recursive: true })
  Fs.writeFileSync(
    Path.join(directory, "clientSize.json"),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        ...size,
        budgetBytes,
        dpop: { ...dpop, budgetBytes: dpopBudgetBytes }
      },
      null,
      2
    ) + "\n"
  )
}
