/**
 * Reads the desktop bootstrap credential: ONE line from an inherited file descriptor. Never from
 * argv or the environment, which other local processes can read (`/proc/<pid>/cmdline`,
 * `/proc/<pid>/environ`). The descriptor is closed after the line, so nothing else lingers.
 *
 * A pipe or socket (what a desktop shell passes) is read without blocking; a regular file is read
 * directly. The line may end with `\n` or `\r\n`, or at end of input.
 */
import { Durations } from "@gatehouse-auth/core"
import { Duration, Effect, Redacted, Schema } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"

export class DesktopBootstrapError extends Schema.TaggedError<DesktopBootstrapError>()("DesktopBootstrapError", {
  fd: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `Could not read the desktop bootstrap credential from file descriptor ${this.fd}: ${this.reason}`
  }
}

export interface Options {
  /** Longest accepted line (default 1024 bytes). */
  readonly maxBytes?: number | undefined
  /** How long to wait for the line (default 30 seconds). */
  readonly timeout?: Duration.Input | undefined
}

const failure = (fd: number, reason: string) => new DesktopBootstrapError({ fd, reason })

const errorReason = (error: unknown): string => {
  const code = (error as { readonly code?: unknown } | undefined)?.code
  return code === "EBADF" ? "it is not open" : typeof code === "string" ? code : "read failed"
}

/** The first line of `bytes`, or `undefined` while no line end has arrived. */
const firstLine = (bytes: Buffer): string | undefined => {
  const end = bytes.indexOf(0x0a)
  return end < 0 ? undefined : bytes.subarray(0, end).toString("utf8")
}

const readFromFile = (fd: number, maxBytes: number) =>
  Effect.try({
    try: () => {
      const buffer = Buffer.alloc(maxBytes + 1)
      let length = 0
      try {
        while (length < buffer.length) {
          const read = Fs.readSync(fd, buffer, length, buffer.length - length, null)
          if (read === 0) break
          length += read
          if (buffer.subarray(0, length).includes(0x0a)) break
        }
      } finally {
        Fs.closeSync(fd)
      }
      const bytes = buffer.subarray(0, length)
      return firstLine(bytes) ?? (length > maxBytes ? undefined : bytes.toString("utf8"))
    },
    catch: (error) => failure(fd, errorReason(error))
  })

const readFromStream = (fd: number, maxBytes: number) =>
  Effect.callback<string | undefined, DesktopBootstrapError>((resume) => {
    const socket = new Net.Socket({ fd, readable: true, writable: false })
    const chunks: Array<Buffer> = []
    let length = 0
    let done = false
    const finish = (result: Effect.Effect<string | undefined, DesktopBootstrapError>) => {
      if (done) return
      done = true
      socket.destroy()
      resume(result)
    }
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
      length += chunk.length
      const line = firstLine(Buffer.concat(chunks))
      if (line !== undefined) finish(Effect.succeed(line))
      else if (length > maxBytes) finish(Effect.succeed(undefined))
    })
    socket.on("end", () => finish(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    socket.on("error", (error) => finish(Effect.fail(failure(fd, errorReason(error)))))
    return Effect.sync(() => {
      done = true
      socket.destroy()
    })
  })

/** Reads one line from `fd` and closes it. The credential is returned `Redacted`. */
export const readCredential = (fd: number, options: Options = {}) => {
  const maxBytes = options.maxBytes ?? 1024
  return Effect.gen(function*() {
    const timeout = yield* Durations.toMillis("timeout", options.timeout, Duration.seconds(30)).pipe(
      Effect.mapBoth({ onFailure: (error) => failure(fd, error.message), onSuccess: Duration.millis })
    )
    if (!Number.isInteger(fd) || fd < 3) {
      return yield* failure(fd, "it must be a descriptor above 2 (0, 1 and 2 are the standard streams)")
    }
    const stats = yield* Effect.try({ try: () => Fs.fstatSync(fd), catch: (error) => failure(fd, errorReason(error)) })
    // Anything else (a terminal, one of Node's own internal descriptors) is not a credential channel.
    if (!stats.isFIFO() && !stats.isSocket() && !stats.isFile()) {
      return yield* failure(fd, "it is not a pipe, socket or file")
    }
    const line = stats.isFIFO() || stats.isSocket()
      ? yield* readFromStream(fd, maxBytes).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.fail(failure(fd, `nothing arrived within ${Duration.format(timeout)}`))
        })
      )
      : yield* readFromFile(fd, maxBytes)
    if (line === undefined) return yield* failure(fd, `the line is longer than ${maxBytes} bytes`)
    const credential = line.replace(/\r$/, "").trim()
    if (credential === "") return yield* failure(fd, "the line is empty")
    return Redacted.make(credential, { label: "desktop-bootstrap-credential" })
  })
}
