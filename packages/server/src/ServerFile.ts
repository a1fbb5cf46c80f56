/**
 * `<stateDir>/server.json`: where the server running on a state directory listens, so that
 * `gatehouse pair` prints a URL that reaches it (the port may have been chosen with `--port 0`).
 * It holds no secret; it is written 0600 like everything else in the state directory, and removed
 * when the server stops. A file left by a server that was killed names a process that no longer
 * exists and is ignored.
 */
import { Effect, FileSystem, Option, Path, Schema } from "effect"

const Announcement = Schema.fromJsonString(Schema.Struct({
  baseUrl: Schema.String,
  pid: Schema.Number
}))

export type Announcement = typeof Announcement.Type

const file = (stateDir: string) => Effect.map(Effect.service(Path.Path), (path) => path.join(stateDir, "server.json"))

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Writes the announcement for the scope's lifetime; a failure to write is a warning, not fatal. */
export const announce = (stateDir: string, baseUrl: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const target = yield* file(stateDir)
    const text = Schema.encodeSync(Announcement)({ baseUrl, pid: process.pid })
    const written = yield* fs.writeFileString(target, text, { mode: 0o600 }).pipe(
      Effect.andThen(fs.chmod(target, 0o600)),
      Effect.as(true),
      Effect.catch((error) => Effect.as(Effect.logWarning(`Could not write ${target}`, error.message), false))
    )
    if (written) yield* Effect.addFinalizer(() => Effect.ignore(fs.remove(target)))
  })

/** What a live server on `stateDir` announced, if any. */
export const read = (stateDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(yield* file(stateDir)).pipe(Effect.option)
    const announcement = Option.flatMap(text, Schema.decodeUnknownOption(Announcement))
    return Option.filter(announcement, (found) => alive(found.pid))
  })
