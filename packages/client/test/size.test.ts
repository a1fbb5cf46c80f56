/**
 * The base entry, bundled, minified and gzipped, stays within 6 KiB, and the optional `./dpop` entry
 * within its own 3 KiB (`scripts/size.ts`).
 */
import { assert, it } from "vitest"
import { budgetBytes, describe, dpopBudgetBytes, dpopSourceEntry, measure } from "../scripts/size.ts"

it("the client is at most 6 KiB minified and gzipped", async () => {
  const size = await measure()
  console.log(describe(size))
  assert.isAtMost(size.gzippedBytes, budgetBytes, describe(size))
  // The measurement is real: the bundle holds the client's code.
  assert.isAbove(size.minifiedBytes, 1000)
})

it("the dpop entry is at most 3 KiB minified and gzipped, and the base entry holds none of it", async () => {
  const size = await measure(dpopSourceEntry)
  console.log(describe(size, dpopBudgetBytes))
  assert.isAtMost(size.gzippedBytes, dpopBudgetBytes, describe(size, dpopBudgetBytes))
  assert.isAbove(size.minifiedBytes, 1000)
  // The figure is the entry with what it takes from the base (the error class); the base has
  // nothing of DPoP, so an app without it ships none of it.
  assert.include(size.code, "dpop+jwt")
  assert.include(size.code, "GatehouseClientError")
  assert.notInclude((await measure()).code, "dpop")
})
