/**
 * TEST ONLY. Named steps of the state writes (see `AtomicFile`) at which a test can make the
 * process die as a crash would: when `GATEHOUSE_TEST_CRASH_POINT` names the step, the process sends
 * itself `SIGKILL` there (no finalizer, no flush, exactly like `kill -9` or a force-quit). Unset
 * (always, outside the crash tests), reaching a step is one environment lookup and nothing else.
 *
 * A step is `<file>:<moment>`: `secret:after-temp-write`, `secret:after-fsync`, `secret:after-link`,
 * `secret:after-rename`, `secret:after-dir-fsync`, and the same for `server-json`.
 */
import { Effect } from "effect"

/** The environment variable naming the step to die at. Never set it outside a test. */
export const variable = "GATEHOUSE_TEST_CRASH_POINT"

/** The moments `AtomicFile` names, in the order a write reaches them. */
export const moments = ["after-temp-write", "after-fsync", "after-link", "after-rename", "after-dir-fsync"] as const

export type Moment = (typeof moments)[number]

/** Dies with `SIGKILL` when `GATEHOUSE_TEST_CRASH_POINT` is `<file>:<moment>`; otherwise does nothing. */
export const reach = (file: string, moment: Moment): Effect.Effect<void> =>
  Effect.sync(() => {
    if (process.env[variable] === `${file}:${moment}`) process.kill(process.pid, "SIGKILL")
  })
