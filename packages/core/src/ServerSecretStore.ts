/**
 * Named binary secrets (signing keys, peppers) kept in `<stateDir>/secrets/<name>.bin`.
 *
 * - the directory is 0700 and every file is 0600 from the moment it exists (opened with the mode,
 *   never chmod-ed afterwards);
 * - the state directory, `secrets/` and the secret files found there must be ours (`OwnedPath`):
 *   a link, another uid or a directory others can write stops the layer; a loose mode of ours is
 *   tightened and logged;
 * - `set` replaces atomically (temp file in the same directory, fsync, rename, directory fsync)
 *   and `create` publishes a complete file with `link`, which fails if the name exists, so no
 *   reader ever sees a half-written secret, not even after a crash (see `AtomicFile`); temp files
 *   a crash left behind are removed when the store starts;
 * - a stored secret that is not what its user expects (empty, or of the wrong length, as a crash
 *   of an older version or a hand edit could leave it) is `UnusableSecret`, naming the file: it is
 *   never replaced by a fresh random one, which would log everyone out or make the stored keys
 *   unreadable;
 * - `getOrCreateRandom` is safe across fibers (a semaphore) and across processes (exclusive
 *   create, then re-read on "already exists");
 * - `GATEHOUSE_SECRET_<NAME>` (base64url or base64) overrides the stored value;
 * - in `hosted` mode a missing secret is an error naming that variable, never a fresh random one.
 */
import { Config, Context, Effect, FileSystem, Layer, Option, Path, Redacted, Schema, Semaphore } from "effect"
import type { PlatformError } from "effect/PlatformError"
import * as AtomicFile from "./AtomicFile.ts"
import { randomBytes } from "./Hashing.ts"
import * as OwnedPath from "./OwnedPath.ts"

export class InvalidSecretName extends Schema.TaggedError<InvalidSecretName>()("InvalidSecretName", {
  name: Schema.String
}) {
  override get message(): string {
    return `Invalid secret name ${JSON.stringify(this.name)}: expected [a-z0-9][a-z0-9._-]{0,63}`
  }
}

export class SecretAlreadyExists extends Schema.TaggedError<SecretAlreadyExists>()("SecretAlreadyExists", {
  name: Schema.String
}) {
  override get message(): string {
    return `Secret "${this.name}" already exists`
  }
}

export class SecretStoreError extends Schema.TaggedError<SecretStoreError>()("SecretStoreError", {
  operation: Schema.String,
  name: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `Secret store could not ${this.operation} "${this.name}"${detail}`
  }
}

export class InvalidSecretOverride extends Schema.TaggedError<InvalidSecretOverride>()("InvalidSecretOverride", {
  variable: Schema.String
}) {
  override get message(): string {
    return `${this.variable} must hold the secret's bytes as base64url or base64`
  }
}

export class SecretGenerationForbidden extends Schema.TaggedError<SecretGenerationForbidden>()(
  "SecretGenerationForbidden",
  { name: Schema.String, variable: Schema.String, bytes: Schema.Number }
) {
  override get message(): string {
    return `Secret "${this.name}" does not exist and hosted mode forbids generating secrets on disk ` +
      `(a new one at each start would log everyone out). Set ${this.variable} to ${this.bytes} random bytes ` +
      `encoded as base64url, for example: openssl rand -base64 ${this.bytes} | tr '+/' '-_' | tr -d '='`
  }
}

export class UnusableSecret extends Schema.TaggedError<UnusableSecret>()("UnusableSecret", {
  name: Schema.String,
  /** Where the secret came from: its file, or the environment variable. */
  source: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `The secret "${this.name}" in ${this.source} cannot be used: ${this.problem}. It is not replaced ` +
      `by a new one, since that would log everyone out and make what it protects unreadable. Restore it ` +
      `from a backup; or, to start over (every device pairs again), remove it`
  }
}

export type SecretError = InvalidSecretName | SecretStoreError | InvalidSecretOverride | UnusableSecret

export interface ServerSecretStoreShape {
  readonly get: (name: string) => Effect.Effect<Option.Option<Redacted.Redacted<Uint8Array>>, SecretError>
  /** Replaces (or creates) the secret atomically. */
  readonly set: (name: string, value: Redacted.Redacted<Uint8Array>) => Effect.Effect<void, SecretError>
  /** Creates the secret; fails with `SecretAlreadyExists` if it is already there. */
  readonly create: (
    name: string,
    value: Redacted.Redacted<Uint8Array>
  ) => Effect.Effect<void, SecretError | SecretAlreadyExists>
  /** The secret, or `bytes` fresh random bytes stored under `name`; every concurrent caller gets the same. */
  readonly getOrCreateRandom: (
    name: string,
    bytes: number
  ) => Effect.Effect<Redacted.Redacted<Uint8Array>, SecretError | SecretGenerationForbidden>
  /** Removes the stored secret; removing a missing one succeeds. */
  readonly remove: (name: string) => Effect.Effect<void, SecretError>
  /** Names of the stored secrets (environment overrides are not listed). */
  readonly list: Effect.Effect<ReadonlyArray<string>, SecretError>
  /** True when missing secrets must come from the environment instead of being generated. */
  readonly hosted: boolean
}

export class ServerSecretStore extends Context.Service<ServerSecretStore, ServerSecretStoreShape>()(
  "@gatehouse-auth/core/ServerSecretStore"
) {}

export interface Options {
  /** Refuse to generate secrets; missing ones must come from the environment. */
  readonly hosted?: boolean | undefined
}

const namePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/

export const isValidName = (name: string): boolean => namePattern.test(name)

/** `signing-keyring` -> `GATEHOUSE_SECRET_SIGNING_KEYRING`. */
export const overrideVariable = (name: string): string => `GATEHOUSE_SECRET_${name.toUpperCase().replace(/[.-]/g, "_")}`

const base64Pattern = /^[A-Za-z0-9+/_-]+={0,2}$/

const decodeOverride = (variable: string, value: string): Effect.Effect<Uint8Array, InvalidSecretOverride> => {
  const text = value.trim()
  if (!base64Pattern.test(text)) return Effect.fail(new InvalidSecretOverride({ variable }))
  const bytes = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64")
  return bytes.length === 0
    ? Effect.fail(new InvalidSecretOverride({ variable }))
    : Effect.succeed(new Uint8Array(bytes))
}

/** The environment override of secret `name`, if one is set. */
export const readOverride = Effect.fnUntraced(function*(name: string) {
  const variable = overrideVariable(name)
  const value = yield* Config.option(Config.Redacted(variable)).pipe(
    Effect.mapError((cause) => new SecretStoreError({ operation: "read the environment for", name, cause }))
  )
  if (Option.isNone(value)) return Option.none<Uint8Array>()
  return Option.some(yield* decodeOverride(variable, Redacted.value(value.value)))
})

/**
 * Where the bytes live. Every method receives an already validated name. `createExclusive`
 * returns `false` when the name exists; `where` says where a secret is kept, for error messages.
 */
export interface Backend {
  readonly where: (name: string) => string
  readonly read: (name: string) => Effect.Effect<Option.Option<Uint8Array>, SecretStoreError>
  readonly replace: (name: string, bytes: Uint8Array) => Effect.Effect<void, SecretStoreError>
  readonly createExclusive: (name: string, bytes: Uint8Array) => Effect.Effect<boolean, SecretStoreError>
  readonly remove: (name: string) => Effect.Effect<void, SecretStoreError>
  readonly list: Effect.Effect<ReadonlyArray<string>, SecretStoreError>
}

/** Validation, environment overrides, the hosted rule and in-process locking over any backend. */
export const make = Effect.fnUntraced(function*(backend: Backend, options: Options = {}) {
  const lock = yield* Semaphore.make(1)

  const validName = (name: string): Effect.Effect<string, InvalidSecretName> =>
    typeof name === "string" && isValidName(name)
      ? Effect.succeed(name)
      : Effect.fail(new InvalidSecretName({ name: String(name) }))

  const getBytes = Effect.fnUntraced(function*(name: string) {
    const fromEnv = yield* readOverride(name)
    return Option.isSome(fromEnv) ? fromEnv : yield* backend.read(name)
  })

  const get = (name: string) =>
    validName(name).pipe(
      Effect.flatMap(getBytes),
      Effect.map(Option.map((bytes) => Redacted.make(bytes, { label: `secret:${name}` })))
    )

  const set = (name: string, value: Redacted.Redacted<Uint8Array>) =>
    validName(name).pipe(Effect.flatMap((name) => backend.replace(name, Redacted.value(value))))

  const create = (name: string, value: Redacted.Redacted<Uint8Array>) =>
    validName(name).pipe(
      Effect.flatMap((name) => backend.createExclusive(name, Redacted.value(value))),
      Effect.flatMap((created) => created ? Effect.void : Effect.fail(new SecretAlreadyExists({ name })))
    )

  /**
   * A stored random secret has the length it was created with; anything else is damage (an
   * environment override is the operator's choice and is taken as given).
   */
  const checkSize = (name: string, size: number) => (bytes: Uint8Array) =>
    bytes.byteLength === size ? Effect.succeed(bytes) : Effect.fail(
      new UnusableSecret({
        name,
        source: backend.where(name),
        problem: bytes.byteLength === 0 ? "it is empty" : `it holds ${bytes.byteLength} bytes, not ${size}`
      })
    )

  const getOrCreateRandom = (name: string, size: number) =>
    Effect.gen(function*() {
      yield* validName(name)
      const fromEnv = yield* readOverride(name)
      if (Option.isSome(fromEnv)) return fromEnv.value
      const existing = yield* backend.read(name)
      if (Option.isSome(existing)) return yield* checkSize(name, size)(existing.value)
      if (options.hosted === true) {
        return yield* new SecretGenerationForbidden({ name, variable: overrideVariable(name), bytes: size })
      }
      const fresh = randomBytes(size)
      if (yield* backend.createExclusive(name, fresh)) return fresh
      // Another process created it first: everyone ends with the bytes that won.
      const winner = yield* backend.read(name)
      if (Option.isSome(winner)) return yield* checkSize(name, size)(winner.value)
      return yield* new SecretStoreError({
        operation: "read back",
        name,
        cause: new Error("the secret vanished right after another process created it")
      })
    }).pipe(
      lock.withPermits(1),
      Effect.map((bytes) => Redacted.make(bytes, { label: `secret:${name}` }))
    )

  const remove = (name: string) => validName(name).pipe(Effect.flatMap(backend.remove))

  return ServerSecretStore.of({
    get,
    set,
    create,
    getOrCreateRandom,
    remove,
    list: backend.list,
    hosted: options.hosted === true
  })
})

const isNotFound = (error: PlatformError) => error.reason._tag === "NotFound"

/** The file backend: `<stateDir>/secrets/<name>.bin`, directory 0700, files 0600. */
export const makeFileBackend = Effect.fnUntraced(function*(stateDir: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const directory = path.join(stateDir, "secrets")
  const fail = (operation: string, name: string) => (cause: unknown) => new SecretStoreError({ operation, name, cause })

  // Ours before anything is created in it or read from it (see `OwnedPath`): a state directory or
  // `secrets/` another user controls, or a link to one, could hold keys they chose. Checked before
  // mkdir (which would follow a link) and again after, for what mkdir found already there.
  const checkDirectories = Effect.andThen(
    OwnedPath.check(stateDir, "directory"),
    OwnedPath.check(directory, "directory")
  )
  yield* checkDirectories
  yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(
    Effect.mapError(fail("prepare the directory for", directory))
  )
  yield* checkDirectories
  // The new `secrets/` entry on disk, then what earlier crashes left half-done.
  yield* AtomicFile.syncDirectory(stateDir).pipe(Effect.mapError(fail("prepare the directory for", directory)))
  yield* AtomicFile.removeStale(directory).pipe(Effect.mapError(fail("clean the directory for", directory)))

  const fileOf = (name: string) => path.join(directory, `${name}.bin`)

  // The secrets already there: no link, ours, 0600 (a loose one is tightened and logged).
  const existing = yield* fs.readDirectory(directory).pipe(Effect.mapError(fail("list", directory)))
  yield* Effect.forEach(
    existing.filter((entry) => entry.endsWith(".bin")),
    (entry) => OwnedPath.check(path.join(directory, entry), "file"),
    { discard: true }
  )

  const read = (name: string) =>
    fs.readFile(fileOf(name)).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isNotFound, () => Effect.succeed(Option.none<Uint8Array>())),
      Effect.mapError(fail("read", name))
    )

  const written = { crashPoint: "secret" }
  const here = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) =>
    effect.pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path))

  const replace = (name: string, bytes: Uint8Array) =>
    here(AtomicFile.replace(fileOf(name), bytes, written)).pipe(Effect.mapError(fail("replace", name)))

  const createExclusive = (name: string, bytes: Uint8Array) =>
    here(AtomicFile.create(fileOf(name), bytes, written)).pipe(Effect.mapError(fail("create", name)))

  const remove = (name: string) => fs.remove(fileOf(name), { force: true }).pipe(Effect.mapError(fail("remove", name)))

  const list = fs.readDirectory(directory).pipe(
    Effect.map((entries) =>
      entries
        .filter((entry) => entry.endsWith(".bin"))
        .map((entry) => entry.slice(0, -4))
        .filter(isValidName)
        .sort()
    ),
    Effect.mapError(fail("list", directory))
  )

  return { where: fileOf, read, replace, createExclusive, remove, list } satisfies Backend
})

/** An in-memory backend, for tests and for servers that keep nothing on disk. */
export const makeMemoryBackend = (initial: Iterable<readonly [string, Uint8Array]> = []): Backend => {
  const secrets = new Map(initial)
  return {
    where: (name) => `memory (${name})`,
    read: (name) => Effect.sync(() => Option.fromNullishOr(secrets.get(name))),
    replace: (name, bytes) => Effect.sync(() => void secrets.set(name, Uint8Array.from(bytes))),
    createExclusive: (name, bytes) =>
      Effect.sync(() => {
        if (secrets.has(name)) return false
        secrets.set(name, Uint8Array.from(bytes))
        return true
      }),
    remove: (name) => Effect.sync(() => void secrets.delete(name)),
    list: Effect.sync(() => [...secrets.keys()].sort())
  }
}

/** Secrets on disk under `stateDir`. */
export const layer = (options: Options & { readonly stateDir: string }) =>
  Layer.effect(
    ServerSecretStore,
    Effect.flatMap(makeFileBackend(options.stateDir), (backend) => make(backend, options))
  )

/** Like `layer`, reading `GATEHOUSE_STATE_DIR` (default `.gatehouse`) and `GATEHOUSE_HOSTED` (default false). */
export const layerConfig = Layer.unwrap(Effect.gen(function*() {
  const stateDir = yield* Config.String("GATEHOUSE_STATE_DIR").pipe(Config.withDefault(".gatehouse"))
  const hosted = yield* Config.Boolean("GATEHOUSE_HOSTED").pipe(Config.withDefault(false))
  return layer({ stateDir, hosted })
}))

/** Secrets in memory; they die with the process. */
export const layerMemory = (options: Options = {}) =>
  Layer.effect(ServerSecretStore, make(makeMemoryBackend(), options))
