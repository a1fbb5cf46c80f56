/**
 * Is a path in the state directory ours? The check ssh applies to `~/.ssh`, for every file and
 * directory Gatehouse trusts (the state directory, `secrets/` and its files, the SQLite database,
 * `server.json`, and a TLS key once there is one), made with `lstat` so that a link is seen as a
 * link and never followed:
 *
 * - a symbolic link, or something of the wrong type, is refused: another user who could write the
 *   state directory once may have planted it to make us read their data or write over a file of ours;
 * - a path owned by another uid than the one running this process is refused: its owner can change
 *   it whenever they like (a planted pairing grant, deleted keys);
 * - a directory writable by group or others is refused: anyone in them may have planted or replaced
 *   files in it, and tightening it now would not undo that. The fix is the owner's (`chmod 700`),
 *   after looking at what is inside;
 * - a loose mode on anything else of ours (a file readable or writable by others, a directory
 *   readable by others) is tightened to 0600 / 0700 and logged: nobody else could have replaced it,
 *   only read it (or, for a file, written it through a directory they could enter), so the start goes
 *   on and the log says what changed.
 *
 * A missing path is fine (the caller creates it with the right mode). A path is checked after its
 * directory, so between `lstat` and `chmod` nobody else can swap it: only we can write that
 * directory.
 *
 * Where `process.getuid` does not exist (Windows) there are no POSIX owners or modes: only the link
 * and type checks apply.
 */
import { Effect, FileSystem, Option, Schema } from "effect"

export class UnsafePathError extends Schema.TaggedError<UnsafePathError>()("UnsafePathError", {
  path: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `Refusing to use ${this.path}: ${this.problem}`
  }
}

export type Kind = "directory" | "file"

/** The uid running this process, or `undefined` where there are no POSIX owners (Windows). */
export const currentUid = (): number | undefined => typeof process.getuid === "function" ? process.getuid() : undefined

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, "0")

const writers = (mode: number) =>
  (mode & 0o022) === 0o022 ? "its group and other users" : (mode & 0o020) !== 0 ? "its group" : "other users"

const quoted = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`

/**
 * What `check` and `requirePrivate` share: the path's `lstat`, refused when it is a link, of the
 * wrong type or (where there are owners) owned by another uid. `None` when it does not exist.
 */
const inspect = Effect.fnUntraced(function*(path: string, kind: Kind) {
  const fs = yield* FileSystem.FileSystem
  const info = yield* fs.lstat(path).pipe(
    Effect.map(Option.some),
    Effect.catch((error) =>
      error.reason._tag === "NotFound"
        ? Effect.succeed(Option.none<FileSystem.File.Info>())
        : Effect.fail(new UnsafePathError({ path, problem: `it cannot be inspected (${error.message})` }))
    )
  )
  if (Option.isNone(info)) return info
  const { type, uid } = info.value
  if (type === "SymbolicLink") {
    return yield* new UnsafePathError({
      path,
      problem: `it is a symbolic link, and Gatehouse never follows links in its state. ` +
        `Remove the link (what it points to is left as it is)`
    })
  }
  const expected = kind === "directory" ? "Directory" : "File"
  if (type !== expected) {
    return yield* new UnsafePathError({
      path,
      problem: `it is not a ${kind === "directory" ? "directory" : "regular file"} (${type})`
    })
  }
  const me = currentUid()
  if (me !== undefined && Option.isSome(uid) && uid.value !== me) {
    return yield* new UnsafePathError({
      path,
      problem: `it is owned by uid ${uid.value}, not by uid ${me} that runs Gatehouse, so another user ` +
        `controls it. Move it away and start again, or run Gatehouse as its owner`
    })
  }
  return info
})

/**
 * Checks `path` (see the module's comment). Succeeds with `true` when it exists and is ours (its
 * mode tightened if it was loose), `false` when it does not exist; fails with `UnsafePathError`
 * naming the path and what is wrong with it.
 */
export const check = Effect.fn("OwnedPath.check")(function*(path: string, kind: Kind) {
  const fs = yield* FileSystem.FileSystem
  const info = yield* inspect(path, kind)
  if (Option.isNone(info)) return false
  const { mode } = info.value
  if (currentUid() === undefined) return true
  if (kind === "directory" && (mode & 0o022) !== 0) {
    return yield* new UnsafePathError({
      path,
      problem: `it is writable by ${writers(mode)} (mode ${octal(mode)}), ` +
        `so someone else may have planted files in it. Check what it holds, then run chmod 700 ${quoted(path)}`
    })
  }
  const tight = kind === "directory" ? 0o700 : 0o600
  if ((mode & 0o077) !== 0) {
    yield* fs.chmod(path, tight).pipe(
      Effect.mapError((error) =>
        new UnsafePathError({
          path,
          problem: `its mode ${octal(mode)} lets other users in and could not be tightened (${error.message})`
        })
      )
    )
    yield* Effect.logWarning(
      `Tightened ${path} from mode ${octal(mode)} to ${octal(tight)}: it was open to other users`
    )
  }
  return true
})

/**
 * The stricter check for a path whose privacy is the point (the local-proof directory, where a
 * file proves who wrote it): the link, type and owner checks of `check`, and the mode must be
 * exactly 0700 (a directory) or 0600 (a file), special bits included. Nothing is tightened: a
 * loose mode means someone else may already have put something there, so it is refused. `true`
 * when it exists and passes, `false` when it does not exist. Where there are no POSIX owners, only
 * the link and type checks apply.
 */
export const requirePrivate = Effect.fn("OwnedPath.requirePrivate")(function*(path: string, kind: Kind) {
  const info = yield* inspect(path, kind)
  if (Option.isNone(info)) return false
  if (currentUid() === undefined) return true
  const exact = kind === "directory" ? 0o700 : 0o600
  const mode = info.value.mode & 0o7777
  if (mode !== exact) {
    return yield* new UnsafePathError({
      path,
      problem: `its mode is ${mode.toString(8).padStart(4, "0")}, not exactly ${octal(exact)}; ` +
        `it is not changed: check what it holds, then run chmod ${exact.toString(8)} ${quoted(path)}`
    })
  }
  return true
})
