/** The whole package, bundled, minified and gzipped, stays within 6 KiB (`scripts/size.ts`). */
import { assert, it } from "vitest"
import { budgetBytes, describe, measure } from "../scripts/size.ts"

it("the client is at most 6 KiB minified and gzipped", async () => {
  const size = await measure()
  console.log(describe(size))
  assert.isAtMost(size.gzippedBytes, budgetBytes, describe(size))
  // The measurement is real: the bundle holds the client's code.
  assert.isAbove(size.minifiedBytes, 1000)
})
