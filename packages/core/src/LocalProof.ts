/**
 * The same-user proof for local tools (POSIX only): a program on this machine proves that it runs
 * as the OS user that runs the server by writing a nonce into a file of the server owner's private
 * directory, and gets a bearer session for it. What anything that can reach loopback cannot do.
 *
 * - `challenge`: a nonce (256 random bits), a file name the server makes (`lp-` and 26 characters
 *   of `[a-z0-9]`, so no name a caller sends can reach outside the directory), the directory and an
 *   expiry (60 seconds by default, read through `Clock`). At most `maxOutstanding` (1,000) are
 *   outstanding; beyond, refused. Only the SHA-256 of the nonce is held, in this instance's memory:
 *   a loopback peer talks to one instance directly, so challenges are per instance.
 * - The caller writes the nonce into `<directory>/<fileName>`, created with mode 0600 (`wx`).
 * - `redeem(fileName)`: the challenge is burned first (a second redemption finds nothing, however
 *   they race), the directory checked again, then the file read through `LocalProofFile` (no link,
 *   no FIFO, a regular file of our uid, mode 0600, at most 1 KB) and unlinked; its contents (one
 *   trailing newline trimmed) must hash to the nonce's SHA-256 (compared in constant time). Then a
 *   bearer session (`method: "local-proof"`) with the configured scopes: by default the standard
 *   bundle, the application's own scopes, never `admin` or `read:access`/`write:access` unless
 *   configured.
 * - The directory: `$XDG_RUNTIME_DIR/gatehouse/` when `XDG_RUNTIME_DIR` is set (an absolute path),
 *   else `<stateDir>/run/`. Created 0700; one that already exists must pass
 *   `OwnedPath.requirePrivate` (not a link, ours, exactly 0700), else the proof is unavailable:
 *   logged once as a warning when the layer is built, and every call refused.
 *
 * Every failure is the same `LocalProofRefused`, one message: what was wrong goes only to a
 * debug log, so a caller probing the checks learns nothing from the answers.
 */
import { Clock, Config, Context, Duration, Effect, FileSystem, Layer, Option, Redacted, Schema } from "effect"
import type * as ClientMetadata from "./ClientMetadata.ts"
import * as Durations from "./Durations.ts"
import { InvalidRequest, type StoreError } from "./Errors.ts"
import { constantTimeEqual, randomBytes, sha256 } from "./Hashing.ts"
import { isSubject, subjectProblem } from "./Ids.ts"
import * as LocalProofFile from "./LocalProofFile.ts"
import * as OwnedPath from "./OwnedPath.ts"
import * as Scopes from "./Scopes.ts"
import * as SessionCredentialService from "./SessionCredentialService.ts"

/** Every refusal: one tag, one message. */
export class LocalProofRefused extends Schema.TaggedError<LocalProofRefused>()("LocalProofRefused", {}) {
  override get message(): string {
    return "The local proof was not accepted"
  }
}

export interface Challenge {
  /** What the caller writes into the file; shown once, in the answer to the challenge. */
  readonly nonce: Redacted.Redacted<string>
  readonly fileName: string
  readonly directory: string
  readonly expiresAt: number
}

export interface Redeemed {
  readonly token: Redacted.Redacted<string>
  readonly session: SessionCredentialService.SessionInfo
}

export interface LocalProofShape {
  /** The private directory challenge files go in. */
  readonly directory: string
  readonly challenge: Effect.Effect<Challenge, LocalProofRefused>
  /** `jkt`: bind the session to this DPoP key (the thumbprint of a proof that came with the request). */
  readonly redeem: (
    fileName: string,
    client?: ClientMetadata.ClientMetadata | undefined,
    jkt?: string | undefined
  ) => Effect.Effect<Redeemed, LocalProofRefused | StoreError>
  /** Challenges held in memory (for tests and metrics): at most `maxOutstanding`. */
  readonly outstanding: () => number
}

export class LocalProof extends Context.Service<LocalProof, LocalProofShape>()(
  "@gatehouse-auth/core/LocalProof"
) {}

export interface Options {
  /** The private directory (see `directoryFor`). */
  readonly directory: string
  /** The application's own scopes: the standard bundle, what a local tool gets by default. */
  readonly applicationScopes: ReadonlyArray<string>
  /** The scopes of the sessions made instead (`admin` or the administrative bundle only if listed here). */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** The sessions' subject (default `owner`: the proof is that the caller is the server's owner). */
  readonly subject?: string | undefined
  /** How long a challenge may be redeemed (default 60 seconds). */
  readonly ttl?: Duration.Input | undefined
  /** Challenges outstanding at once (default 1,000). */
  readonly maxOutstanding?: number | undefined
}

/** Largest challenge file read (bytes). */
export const maxFileBytes = 1024

export const defaultMaxOutstanding = 1000

/** The file names `challenge` makes; `redeem` refuses anything else before touching the disk. */
export const fileNamePattern = /^lp-[a-z0-9]{26}$/

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

/** `lp-` and 26 uniformly random characters of `[a-z0-9]` (134 bits; a byte of 252 or more is skipped). */
const newFileName = (): string => {
  let name = "lp-"
  while (name.length < 29) {
    for (const byte of randomBytes(32)) {
      if (byte < 252 && name.length < 29) name += alphabet[byte % 36]
    }
  }
  return name
}

/**
 * Where the challenge files go: `$XDG_RUNTIME_DIR/gatehouse` when `runtimeDir` is an absolute path
 * (the XDG rule: a relative one is ignored), else `<stateDir>/run`.
 */
export const directoryFor = (options: { readonly stateDir: string; readonly runtimeDir?: string | undefined }) =>
  options.runtimeDir !== undefined && options.runtimeDir.startsWith("/")
    ? `${options.runtimeDir.replace(/\/+$/, "")}/gatehouse`
    : `${options.stateDir.replace(/\/+$/, "")}/run`

/** The SHA-256 of what a file must hold; the file's text loses one trailing newline first. */
const digestOf = (text: string) => sha256(text.replace(/\r?\n$/, ""))

interface Pending {
  readonly nonceDigest: Uint8Array
  readonly expiresAt: number
}

export const make = Effect.fnUntraced(function*(options: Options) {
  const sessions = yield* SessionCredentialService.SessionCredentialService
  const fs = yield* FileSystem.FileSystem
  // Absolute: it is handed to local tools, which run in directories of their own.
  const given = options.directory.replace(/(.)\/+$/, "$1")
  const directory = given.startsWith("/") ? given : `${process.cwd()}/${given.replace(/^\.\//, "")}`
  const ttl = yield* Durations.toMillis("localProof.ttl", options.ttl, Duration.seconds(60))
  const maxOutstanding = options.maxOutstanding ?? defaultMaxOutstanding
  if (!Number.isSafeInteger(maxOutstanding) || maxOutstanding < 1) {
    return yield* new InvalidRequest({ message: "localProof.maxOutstanding must be a whole number of at least 1" })
  }
  const scopes = options.scopes ?? Scopes.standard(options.applicationScopes)
  if (!Scopes.isScopes(scopes)) return yield* new InvalidRequest({ message: Scopes.problem })
  const subject = options.subject ?? "owner"
  if (!isSubject(subject)) return yield* new InvalidRequest({ message: subjectProblem })

  /** By file name; the nonce itself is never kept. */
  const pending = new Map<string, Pending>()
  const pathOf = (fileName: string) => `${directory}/${fileName}`

  const refuse = (reason: string) =>
    Effect.andThen(Effect.logDebug(`Local proof refused: ${reason}`), Effect.fail(new LocalProofRefused()))

  /**
   * The directory, created 0700 when missing, and checked (no link, ours, exactly 0700). Succeeds
   * with what is wrong, or `undefined` when it can be used.
   */
  const prepare: Effect.Effect<string | undefined> = Effect.gen(function*() {
    if (process.platform === "win32" || OwnedPath.currentUid() === undefined) {
      return "it needs POSIX file owners and modes (not available on this platform)"
    }
    if (!(yield* OwnedPath.requirePrivate(directory, "directory"))) {
      // Not recursive: its parent (the runtime or state directory) must already be there.
      yield* fs.makeDirectory(directory, { mode: 0o700 })
      // The umask may have taken bits away; nobody else can have entered what was just made.
      yield* fs.chmod(directory, 0o700)
      yield* OwnedPath.requirePrivate(directory, "directory")
    }
    return undefined
  }).pipe(
    // The path is said once, by the caller's line.
    Effect.catch((error) => Effect.succeed(error._tag === "UnsafePathError" ? error.problem : error.message)),
    Effect.provideService(FileSystem.FileSystem, fs)
  )

  const startProblem = yield* prepare
  if (startProblem !== undefined) {
    yield* Effect.logWarning(`Local proof is unavailable: ${directory}: ${startProblem}`)
  }

  /** Forgets the challenges that expired (their files, if any were written, are removed). */
  const sweep = (now: number) => {
    const expired = [...pending].filter(([, entry]) => now >= entry.expiresAt).map(([name]) => name)
    for (const name of expired) pending.delete(name)
    return Effect.forEach(expired, (name) => LocalProofFile.remove(pathOf(name)), { discard: true })
  }

  const challenge = Effect.gen(function*() {
    const problem = yield* prepare
    if (problem !== undefined) return yield* refuse(`${directory}: ${problem}`)
    const now = yield* Clock.currentTimeMillis
    yield* sweep(now)
    if (pending.size >= maxOutstanding) return yield* refuse(`${maxOutstanding} challenges are outstanding`)
    const nonce = Buffer.from(randomBytes(32)).toString("base64url")
    const fileName = newFileName()
    const expiresAt = now + ttl
    pending.set(fileName, { nonceDigest: digestOf(nonce), expiresAt })
    return { nonce: Redacted.make(nonce, { label: "local-proof-nonce" }), fileName, directory, expiresAt }
  }).pipe(Effect.withSpan("LocalProof.challenge"))

  const redeem = Effect.fn("LocalProof.redeem")(function*(
    fileName: string,
    client?: ClientMetadata.ClientMetadata | undefined,
    jkt?: string | undefined
  ) {
    // Never a path from a name this server would not make.
    if (!fileNamePattern.test(fileName)) return yield* refuse("the file name is not one this server makes")
    const entry = pending.get(fileName)
    // A name not issued here is left alone: another instance sharing the directory may have issued it.
    if (entry === undefined) return yield* refuse(`no outstanding challenge is named ${fileName}`)
    // Burned before anything is read: whatever happens next, it is never redeemed twice.
    pending.delete(fileName)
    const directoryOk = yield* OwnedPath.requirePrivate(directory, "directory").pipe(
      Effect.provideService(FileSystem.FileSystem, fs),
      Effect.catch((error) => Effect.as(Effect.logDebug(error.message), false))
    )
    // Not unlinked: through a directory that is no longer ours, the name may lead anywhere.
    if (!directoryOk) return yield* refuse(`${directory} is missing or no longer private`)
    const read = yield* LocalProofFile.readOnce(pathOf(fileName), maxFileBytes)
    if ((yield* Clock.currentTimeMillis) >= entry.expiresAt) return yield* refuse(`${fileName} expired`)
    if (read._tag === "Refused") return yield* refuse(`${fileName}: ${read.reason}`)
    const text = Buffer.from(read.contents).toString("utf8")
    if (!constantTimeEqual(digestOf(text), entry.nonceDigest)) {
      return yield* refuse(`${fileName} does not hold the challenge's nonce`)
    }
    return yield* sessions.issue({ subject, scopes, method: "local-proof", transport: "bearer", client, jkt }).pipe(
      // Subject and scopes were checked when the layer was built.
      Effect.catchTag("InvalidRequest", (error) => Effect.die(error))
    )
  })

  return LocalProof.of({ directory, challenge, redeem, outstanding: () => pending.size })
})

/** The service; needs `SessionCredentialService` and `FileSystem`. */
export const layer = (options: Options) => Layer.effect(LocalProof, make(options))

/**
 * `layer` with the directory of `directoryFor`: `XDG_RUNTIME_DIR` read through `Config` (the
 * environment by default).
 */
export const layerConfig = (options: Omit<Options, "directory"> & { readonly stateDir: string }) =>
  Layer.effect(
    LocalProof,
    Effect.gen(function*() {
      const runtimeDir = yield* Config.option(Config.String("XDG_RUNTIME_DIR")).pipe(
        Effect.orElseSucceed(() => Option.none<string>())
      )
      const { stateDir, ...rest } = options
      return yield* make({
        ...rest,
        directory: directoryFor({ stateDir, runtimeDir: Option.getOrUndefined(runtimeDir) })
      })
    })
  )
