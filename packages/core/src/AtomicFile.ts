/**
 * Writing a state file (a secret, `server.json`) so that a crash at any moment leaves either the
 * complete old file or the complete new one, never a torn or empty one, and so that once a write
 * has returned it survives a power loss too:
 *
 * 1. the bytes go to a temp file next to the target, created `O_EXCL` with mode 0600 (a planted
 *    link at that name makes the write fail instead of being followed, and the bytes are never
 *    readable by others, not even for a moment);
 * 2. the temp file is fsync-ed, so its bytes are on disk before any name points at them;
 * 3. `replace` renames it over the target (a rename replaces the name atomically, and replaces a
 *    link itself, never what it points to); `create` links it to the target, which fails when the
 *    target exists, so of two processes creating the same file one wins and the other reads it;
 * 4. the directory is fsync-ed, so the new name itself is on disk.
 *
 * A crash between the steps leaves a temp file behind: it is named after the process that wrote it
 * (`.<target>.<pid>-<random>.tmp`), and `removeStale` removes those of processes that no longer run.
 * Each step is a test-only crash point (see `CrashPoint`).
 */
import { Effect, FileSystem, Path } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as CrashPoint from "./CrashPoint.ts"
import { randomBytes } from "./Hashing.ts"

export interface WriteOptions {
  /** The crash-point name of this file (`secret`, `server-json`); see `CrashPoint`. */
  readonly crashPoint: string
}

const tempPattern = /^\..+\.(\d+)-[0-9a-f]{16}\.tmp$/

/** `<dir>/.<name>.<pid>-<16 hex>.tmp`: beside the target, so that the rename or link stays in one directory. */
export const tempPathFor = (path: Path.Path, target: string): string =>
  path.join(
    path.dirname(target),
    `.${path.basename(target)}.${process.pid}-${Buffer.from(randomBytes(8)).toString("hex")}.tmp`
  )

/** The pid a temp file name carries, or `undefined` when the name is not one of ours. */
export const tempOwner = (name: string): number | undefined => {
  const match = tempPattern.exec(name)
  return match === null ? undefined : Number(match[1])
}

/**
 * Flushes a directory's entries (a rename, a link, a new file) to disk. Windows cannot open a
 * directory for this; its file system commits renames on its own, so there it is skipped.
 */
export const syncDirectory = (directory: string): Effect.Effect<void, PlatformError, FileSystem.FileSystem> =>
  process.platform === "win32"
    ? Effect.void
    : Effect.scoped(Effect.gen(function*() {
      const handle = yield* (yield* FileSystem.FileSystem).open(directory, { flag: "r" })
      yield* handle.sync
    }))

/** Steps 1 and 2: a complete, fsync-ed 0600 temp file beside `target`, removed again if anything fails. */
const writeTemp = Effect.fnUntraced(function*(target: string, bytes: Uint8Array, options: WriteOptions) {
  const fs = yield* FileSystem.FileSystem
  const temp = tempPathFor(yield* Path.Path, target)
  yield* Effect.scoped(Effect.gen(function*() {
    const handle = yield* fs.open(temp, { flag: "wx", mode: 0o600 })
    yield* handle.writeAll(bytes)
    yield* CrashPoint.reach(options.crashPoint, "after-temp-write")
    yield* handle.sync
    yield* CrashPoint.reach(options.crashPoint, "after-fsync")
  })).pipe(Effect.onError(() => Effect.ignore(fs.remove(temp, { force: true }))))
  return temp
})

/** Replaces (or creates) `target` with `bytes`: temp, fsync, rename, directory fsync. */
export const replace = Effect.fnUntraced(function*(target: string, bytes: Uint8Array, options: WriteOptions) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const temp = yield* writeTemp(target, bytes, options)
  yield* fs.rename(temp, target).pipe(Effect.onError(() => Effect.ignore(fs.remove(temp, { force: true }))))
  yield* CrashPoint.reach(options.crashPoint, "after-rename")
  yield* syncDirectory(path.dirname(target))
  yield* CrashPoint.reach(options.crashPoint, "after-dir-fsync")
})

/**
 * Creates `target` with `bytes` unless it exists: temp, fsync, link, temp removed, directory fsync.
 * `false` when `target` already existed (another process won: read its file); the temp is removed
 * either way.
 */
export const create = Effect.fnUntraced(function*(target: string, bytes: Uint8Array, options: WriteOptions) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const temp = yield* writeTemp(target, bytes, options)
  const linked = yield* fs.link(temp, target).pipe(
    Effect.as(true),
    Effect.catchIf((error) => error.reason._tag === "AlreadyExists", () => Effect.succeed(false)),
    Effect.onError(() => Effect.ignore(fs.remove(temp, { force: true })))
  )
  if (linked) yield* CrashPoint.reach(options.crashPoint, "after-link")
  // The target holds the bytes now (or another process's): a temp left here is removed at the next start.
  yield* Effect.ignore(fs.remove(temp, { force: true }))
  if (!linked) return false
  yield* syncDirectory(path.dirname(target))
  yield* CrashPoint.reach(options.crashPoint, "after-dir-fsync")
  return true
})

/** True when `pid` may be a running process (`EPERM`: it runs, as another user). */
const running = (pid: number): boolean => {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Removes the temp files in `directory` left by writes a crash interrupted: those whose writer
 * no longer runs (a live writer's temp is about to be renamed or linked, so it is left alone).
 * Returns the paths removed.
 */
export const removeStale = Effect.fnUntraced(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const stale = (yield* fs.readDirectory(directory)).filter((name) => {
    const owner = tempOwner(name)
    return owner !== undefined && (owner === process.pid ? false : !running(owner))
  }).map((name) => path.join(directory, name))
  yield* Effect.forEach(stale, (file) => fs.remove(file, { force: true }), { discard: true })
  if (stale.length > 0) {
    yield* Effect.logInfo(`Removed ${stale.length} temporary file(s) left by an interrupted write in ${directory}`)
  }
  return stale
})
