// The test projects: one per package, one per example, the consumer test of the packed
// tarballs, and the bench smoke test. vitest.config.ts hands this list to `test.projects`.
export default [
  "packages/client",
  "packages/core",
  "packages/http",
  "packages/sql",
  "packages/server",
  "packages/testing",
  "examples/effect-server",
  "examples/http-api",
  "examples/desktop-shell",
  "test/consumer",
  "bench"
]
