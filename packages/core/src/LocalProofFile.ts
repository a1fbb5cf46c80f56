/**
 * The one module of the core that opens files with `node:fs` flags the Effect `FileSystem` does not
 * offer: reading a local-proof file (see `LocalProof`) so that what is read is what was checked.
 *
 * - `open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)`: a symbolic link in place of the file fails
 *   with `ELOOP` instead of being followed (to a file of ours the caller could not read, say), and a
 *   FIFO opens at once instead of waiting for a writer that never comes;
 * - `fstat` on the open descriptor, not `lstat` on the name: the checks are about the very file
 *   that is then read, so nothing can be swapped in between. A regular file, owned by the uid that
 *   runs this process, mode exactly 0600, at most `maxBytes`;
 * - at most `maxBytes + 1` bytes are read (a file that grew since `fstat` is refused too);
 * - the descriptor is closed and the name unlinked whatever happened, so a challenge file never
 *   outlives its redemption (an unlink that fails, the name of a directory say, is ignored).
 *
 * Never fails: the outcome says what was read or, for the debug log only, why it was refused. POSIX
 * only: where `O_NOFOLLOW` does not exist (Windows) every read is refused.
 */
import { Duration, Effect } from "effect"
import * as Fs from "node:fs"

export type Outcome =
  | { readonly _tag: "Read"; readonly contents: Uint8Array }
  | { readonly _tag: "Refused"; readonly reason: string }

const refused = (reason: string): Outcome => ({ _tag: "Refused", reason })

/** How long a read may take before it is refused (a file on a stuck network mount, say). */
export const readTimeout = Duration.seconds(2)

const codeOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : "an unknown error"

const readChecked = async (path: string, maxBytes: number, uid: number): Promise<Outcome> => {
  const { O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = Fs.constants
  if (O_NOFOLLOW === undefined || O_NONBLOCK === undefined) return refused("this platform has no O_NOFOLLOW")
  let handle: Fs.promises.FileHandle | undefined
  try {
    try {
      handle = await Fs.promises.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
    } catch (error) {
      const code = codeOf(error)
      return refused(code === "ELOOP" ? "the file is a symbolic link" : `the file could not be opened (${code})`)
    }
    const info = await handle.stat()
    if (!info.isFile()) return refused("the file is not a regular file")
    if (info.uid !== uid) return refused(`the file is owned by uid ${info.uid}, not ${uid}`)
    const mode = info.mode & 0o7777
    if (mode !== 0o600) return refused(`the file's mode is ${mode.toString(8).padStart(4, "0")}, not 0600`)
    if (info.size > maxBytes) return refused(`the file holds ${info.size} bytes, more than ${maxBytes}`)
    const buffer = new Uint8Array(maxBytes + 1)
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0)
    if (bytesRead > maxBytes) return refused(`the file holds more than ${maxBytes} bytes`)
    return { _tag: "Read", contents: buffer.subarray(0, bytesRead) }
  } catch (error) {
    return refused(`the file could not be read (${codeOf(error)})`)
  } finally {
    await handle?.close().catch(() => undefined)
    await Fs.promises.unlink(path).catch(() => undefined)
  }
}

/** Reads the file at `path` once, with the checks of the module's comment, and unlinks it. */
export const readOnce = (path: string, maxBytes: number): Effect.Effect<Outcome> => {
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined
  if (uid === undefined) return Effect.succeed(refused("this platform has no POSIX owners"))
  return Effect.promise(() => readChecked(path, maxBytes, uid)).pipe(
    Effect.timeoutOrElse({
      duration: readTimeout,
      orElse: () => Effect.succeed(refused("reading the file timed out"))
    })
  )
}

/** Unlinks `path` if it is there (a challenge that expired unused); never fails. */
export const remove = (path: string): Effect.Effect<void> =>
  Effect.promise(() => Fs.promises.unlink(path).catch(() => undefined))
