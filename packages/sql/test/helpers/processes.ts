import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"

export const fixture = (name: string) => Path.join(import.meta.dirname, "..", "fixtures", name)

/** Runs a .ts script on this Node (which runs TypeScript directly); resolves with its stdout. */
export const runScript = (script: string, args: ReadonlyArray<string>, timeoutMillis = 60_000) =>
  Effect.callback<string, Error>((resume) => {
    const child = ChildProcess.execFile(
      process.execPath,
      ["--conditions=@gatehouse-auth/source", "--disable-warning=ExperimentalWarning", script, ...args],
      { timeout: timeoutMillis },
      (error, stdout, stderr) =>
        resume(
          error
            ? Effect.fail(new Error(`${Path.basename(script)} failed: ${error.message}\n${stderr}`))
            : Effect.succeed(stdout)
        )
    )
    return Effect.sync(() => child.kill())
  })

/**
 * Starts `n` copies of a script that each print "ready" once set up and then wait for "go" on
 * stdin; releases them all at once (a barrier across processes) and collects their last output line.
 */
export const raceProcesses = (n: number, script: string, args: ReadonlyArray<string>, timeoutMillis = 90_000) =>
  Effect.tryPromise({
    try: () =>
      new Promise<ReadonlyArray<string>>((resolve, reject) => {
        const children = Array.from({ length: n }, () =>
          ChildProcess.spawn(process.execPath, [
            "--conditions=@gatehouse-auth/source",
            "--disable-warning=ExperimentalWarning",
            script,
            ...args
          ], {
            stdio: ["pipe", "pipe", "pipe"]
          }))
        const timer = setTimeout(() => {
          for (const child of children) {
            child.kill("SIGKILL")
          }
          reject(new Error(`the ${n} processes did not finish within ${timeoutMillis} ms`))
        }, timeoutMillis)
        let ready = 0
        const results: Array<string> = []
        const errors: Array<string> = []
        for (const child of children) {
          child.stderr.on("data", (chunk) => errors.push(String(chunk)))
          const lines = Readline.createInterface({ input: child.stdout })
          let last = ""
          lines.on("line", (line) => {
            if (line === "ready") {
              if (++ready === n) {
                for (const each of children) {
                  each.stdin.end("go\n")
                }
              }
            } else last = line
          })
          child.on("close", (code) => {
            if (code !== 0) {
              clearTimeout(timer)
              for (const each of children) {
                each.kill("SIGKILL")
              }
              reject(new Error(`a contender exited with ${code}: ${errors.join("")}`))
              return
            }
            results.push(last)
            if (results.length === n) {
              clearTimeout(timer)
              resolve(results)
            }
          })
        }
      }),
    catch: (error) => error as Error
  })
