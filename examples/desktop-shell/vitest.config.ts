import { defineProject } from "vitest/config"
import { sourceConditions } from "../../vitest.shared.ts"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "desktop-shell",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
