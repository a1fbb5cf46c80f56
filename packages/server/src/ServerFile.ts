/**
 * `<stateDir>/server.json`: where the server running on a state directory listens, so that
 * `gatehouse pair` prints a URL that reaches it (the port may have been chosen with `--port 0`).
 * It holds no secret; it is written 0600 like everything else in the state directory, and removed
 * when the server stops. A file left by a server that was killed names a process that no longer
 * exists and is ignored; so is one naming another user's process, which is not our server.
 *
 * Written with `AtomicFile.replace`: a temp file created exclusively (`wx`, so a link planted at
 * that name makes the write fail instead of being followed), fsync-ed, renamed over `server.json`
 * (a rename replaces a link itself, never what it points to), then the directory fsync-ed; a kill
 * at any step leaves the old file or the new one, never a torn one. Read only once the state directory and the file pass
 * `OwnedPath.check`, and its `baseUrl` must be an origin: a pairing URL is built from it.
 */
import { AtomicFile, OwnedPath } from "@gatehouse-auth/core"
import { Effect, FileSystem, Option, Path, Schema } from "effect"
import { isOrigin } from "./Origins.ts"

const Announcement = Schema.fromJsonString(Schema.Struct({
  baseUrl: Schema.String,
  pid: Schema.Number,
  /** Where a device elsewhere reaches the server (a wildcard bind's primary address); the pairing URL's base. */
  pairingBaseUrl: Schema.optionalKey(Schema.String),
  /** The other URLs it listens on. */
  otherBaseUrls: Schema.optionalKey(Schema.Array(Schema.String)),
  /** The SHA-256 fingerprint of the certificate it serves, when it serves HTTPS. */
  tlsFingerprint: Schema.optionalKey(Schema.String)
}))

/** What `announce` writes beside `baseUrl` (all optional, so an older file still reads). */
export interface Extra {
  readonly pairingBaseUrl?: string | undefined
  readonly otherBaseUrls?: ReadonlyArray<string> | undefined
  readonly tlsFingerprint?: string | undefined
}

export type Announcement = typeof Announcement.Type

/** What `read` gives: the announcement with the optional fields filled in. */
export interface Announced {
  readonly baseUrl: string
  readonly pid: number
  readonly pairingBaseUrl: string
  readonly otherBaseUrls: ReadonlyArray<string>
  readonly tlsFingerprint?: string | undefined
}

export class InvalidServerFile extends Schema.TaggedError<InvalidServerFile>()("InvalidServerFile", {
  path: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `${this.path} was not written by a Gatehouse server: ${this.problem}. ` +
      `Remove it (or pass --url to say where the server listens)`
  }
}

const file = (stateDir: string) => Effect.map(Effect.service(Path.Path), (path) => path.join(stateDir, "server.json"))

/**
 * True when `pid` is a live process of this user. EPERM (it exists but belongs to someone else)
 * is not our server; and since root may signal anyone, the owner of `/proc/<pid>` decides where
 * it exists (Linux).
 */
const ours = (pid: number) =>
  Effect.gen(function*() {
    // 0 and negative pids name process groups, which `kill` signals happily.
    if (!Number.isSafeInteger(pid) || pid <= 0) return false
    try {
      process.kill(pid, 0)
    } catch {
      return false
    }
    const me = OwnedPath.currentUid()
    if (me === undefined) return true
    const owner = yield* (yield* FileSystem.FileSystem).stat(`/proc/${pid}`).pipe(
      Effect.map((info) => info.uid),
      Effect.orElseSucceed(() => Option.none<number>())
    )
    return Option.match(owner, { onNone: () => true, onSome: (uid) => uid === me })
  })

/** Writes the announcement for the scope's lifetime; a failure to write is a warning, not fatal. */
export const announce = (stateDir: string, baseUrl: string, extra: Extra = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const target = yield* file(stateDir)
    const text = Schema.encodeSync(Announcement)({
      baseUrl,
      pid: process.pid,
      ...(extra.pairingBaseUrl === undefined ? {} : { pairingBaseUrl: extra.pairingBaseUrl }),
      ...(extra.otherBaseUrls === undefined ? {} : { otherBaseUrls: extra.otherBaseUrls }),
      ...(extra.tlsFingerprint === undefined ? {} : { tlsFingerprint: extra.tlsFingerprint })
    })
    const written = yield* AtomicFile.replace(target, new TextEncoder().encode(text), { crashPoint: "server-json" })
      .pipe(
        Effect.as(true),
        Effect.catch((error) => Effect.as(Effect.logWarning(`Could not write ${target}`, error.message), false))
      )
    if (written) yield* Effect.addFinalizer(() => Effect.ignore(fs.remove(target)))
  })

/**
 * What a live server of this user on `stateDir` announced, if any. Fails with `UnsafePathError`
 * when the state directory or the file is not ours (a link, another owner), and with
 * `InvalidServerFile` when the file is not what a server writes (its `baseUrl` not an origin).
 */
export const read = (stateDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const target = yield* file(stateDir)
    yield* OwnedPath.check(stateDir, "directory")
    if (!(yield* OwnedPath.check(target, "file"))) return Option.none<Announced>()
    const text = yield* fs.readFileString(target).pipe(Effect.option)
    if (Option.isNone(text)) return Option.none<Announced>()
    const announcement = Schema.decodeUnknownOption(Announcement)(text.value)
    if (Option.isNone(announcement)) {
      return yield* new InvalidServerFile({ path: target, problem: "it does not hold a baseUrl and a pid" })
    }
    const { baseUrl, pid, pairingBaseUrl, otherBaseUrls, tlsFingerprint } = announcement.value
    for (const [field, url] of [["baseUrl", baseUrl], ["pairingBaseUrl", pairingBaseUrl ?? baseUrl]] as const) {
      if (!isOrigin(url)) {
        return yield* new InvalidServerFile({
          path: target,
          problem: `its ${field} "${url}" is not an origin like http://127.0.0.1:3773`
        })
      }
    }
    if (tlsFingerprint !== undefined && !/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(tlsFingerprint)) {
      return yield* new InvalidServerFile({ path: target, problem: "its tlsFingerprint is not a SHA-256 fingerprint" })
    }
    const trim = (url: string) => url.replace(/\/+$/, "")
    return (yield* ours(pid))
      ? Option.some<Announced>({
        baseUrl: trim(baseUrl),
        pid,
        pairingBaseUrl: trim(pairingBaseUrl ?? baseUrl),
        // Only origins: these are printed.
        otherBaseUrls: (otherBaseUrls ?? []).filter(isOrigin).map(trim),
        ...(tlsFingerprint === undefined ? {} : { tlsFingerprint })
      })
      : Option.none<Announced>()
  })
