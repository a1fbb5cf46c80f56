/**
 * Opens a URL in the person's browser (`gatehouse serve --open` only; never otherwise).
 *
 * The URL travels as an argument of the opener process, visible to other local processes for a
 * moment. That is the accepted cost of `--open`: the startup pairing credential is single-use and
 * short-lived, and the browser normally uses it within a second. The desktop bootstrap credential
 * never goes this way.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"

/** The platform's opener: `open` (macOS), `cmd /c start` (Windows), `xdg-open` (elsewhere). */
export const command = (
  url: string,
  platform: NodeJS.Platform = process.platform
): readonly [string, ReadonlyArray<string>] =>
  platform === "darwin"
    ? ["open", [url]]
    : platform === "win32"
    ? ["cmd", ["/c", "start", "", url.replace(/&/g, "^&")]]
    : ["xdg-open", [url]]

/** Starts the opener detached; `false` when it could not even be started. */
export const open = (url: string) =>
  Effect.callback<boolean>((resume) => {
    const [file, args] = command(url)
    try {
      const child = spawn(file, args, { detached: true, stdio: "ignore", windowsHide: true })
      child.once("error", () => resume(Effect.succeed(false)))
      child.once("spawn", () => {
        child.unref()
        resume(Effect.succeed(true))
      })
    } catch {
      resume(Effect.succeed(false))
    }
  })
