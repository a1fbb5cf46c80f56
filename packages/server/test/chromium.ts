/**
 * Debian's Chromium for the browser tests, driven by playwright-core: where it is, whether these
 * tests run (skipped locally without it, with a note; under CI=true they run and fail if it is
 * missing), the flags it starts with and a scoped launch.
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import { chromium } from "playwright-core"

export const executablePath = "/usr/bin/chromium"
export const available = Fs.existsSync(executablePath)
export const inCi = process.env.CI === "true" || process.env.CI === "1"
/** Whether a browser suite is skipped: only outside CI, without Chromium. */
export const skipped = !available && !inCi

/** Says once, for a suite, why it is skipped. */
export const noteIfSkipped = (what: string) => {
  if (skipped) console.warn(`Skipping ${what}: ${executablePath} not found (apt-get install chromium).`)
}

const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

/** What a page waits for at most (a selector, a function). */
export const timeout = 15_000

/** A browser for the test's scope, closed when it ends; `extraArgs` after the usual flags. */
export const launchWith = (extraArgs: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() => chromium.launch({ executablePath, args: [...args, ...extraArgs], timeout: 30_000 })),
    (browser) => Effect.promise(() => browser.close())
  )

/** A browser for the test's scope, closed when it ends. */
export const launch = launchWith([])
