import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "consumer",
    include: ["*.test.ts"],
    // It builds and packs every package and installs the tarballs with npm: minutes, not seconds.
    testTimeout: 120_000,
    hookTimeout: 600_000
  }
})
