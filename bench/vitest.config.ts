import { defineProject } from "vitest/config"
import { sourceConditions } from "../vitest.shared.ts"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "bench",
    include: ["test/**/*.test.ts"],
    // One `npm run bench` in smoke mode: about 40 s alone, more beside the other projects.
    testTimeout: 240_000
  }
})
