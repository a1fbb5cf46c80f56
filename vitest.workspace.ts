// The test projects, one per package. vitest.config.ts hands this list to `test.projects`.
export default [
  "packages/core",
  "packages/http",
  "packages/sql",
  "packages/server",
  "packages/testing",
  "examples/desktop-shell"
]
