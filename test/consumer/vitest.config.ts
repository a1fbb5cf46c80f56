import { defineProject } from "vitest/config"
import { sourceConditions } from "../../vitest.shared.ts"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "consumer",
    include: ["*.test.ts"],
    // It builds and packs every package and installs the tarballs with npm: minutes, not seconds.
    testTimeout: 120_000,
    hookTimeout: 600_000
  }
})
