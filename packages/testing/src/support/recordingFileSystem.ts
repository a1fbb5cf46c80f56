import { Effect, FileSystem, Layer } from "effect"

/** One call the recording `FileSystem` saw: the operation and the paths it named. */
export interface Operation {
  readonly op: "open" | "writeAll" | "sync" | "rename" | "link" | "remove"
  readonly path: string
  readonly to?: string | undefined
  readonly flag?: string | undefined
  readonly mode?: number | undefined
}

/**
 * The `FileSystem` provided to it (Node's, in the tests), unchanged, with every `open`, write,
 * `sync` (of the file it was opened on), `rename`, `link` and `remove` appended to `log` in the
 * order the calls completed: what a write-order test asserts on. A crash test cannot see whether
 * data reached the disk; the order of these calls is what makes it do so.
 */
export const recordingFileSystem = (log: Array<Operation>) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(Effect.service(FileSystem.FileSystem), (fs) => {
      const record = (operation: Operation) => Effect.sync(() => void log.push(operation))
      return FileSystem.FileSystem.of({
        ...fs,
        open: (path, options) =>
          Effect.map(
            Effect.tap(
              fs.open(path, options),
              () => record({ op: "open", path, flag: options?.flag, mode: options?.mode })
            ),
            (file) =>
              Object.create(file, {
                writeAll: {
                  value: (bytes: Uint8Array) => Effect.tap(file.writeAll(bytes), () => record({ op: "writeAll", path }))
                },
                sync: { value: Effect.tap(file.sync, () => record({ op: "sync", path })) }
              }) as FileSystem.File
          ),
        rename: (from, to) => Effect.tap(fs.rename(from, to), () => record({ op: "rename", path: from, to })),
        link: (from, to) => Effect.tap(fs.link(from, to), () => record({ op: "link", path: from, to })),
        remove: (path, options) => Effect.tap(fs.remove(path, options), () => record({ op: "remove", path }))
      })
    })
  )
