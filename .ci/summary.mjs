// Prints the closing line of the test run from vitest's JSON report: "N passed, N failed, N skipped".
// Exits non-zero when the report is missing or no test ran, so an empty run cannot look green.
import * as Fs from "node:fs"

const file = process.argv[2] ?? "test-results/vitest.json"
if (!Fs.existsSync(file)) {
  console.error(`no test report at ${file}`)
  process.exit(1)
}
const report = JSON.parse(Fs.readFileSync(file, "utf8"))
const skipped = report.numPendingTests + report.numTodoTests
console.log(`${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`)
if (report.numTotalTests === 0 || report.numPassedTests === 0) {
  console.error("no test was executed")
  process.exit(1)
}
process.exit(report.numFailedTests === 0 && report.success ? 0 : 1)
