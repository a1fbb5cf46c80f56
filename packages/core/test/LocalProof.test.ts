/**
 * The same-user proof against real files in a real private directory: every refusal is produced
 * for real (a link, a FIFO, a loose mode, another owner, a loose or linked directory), and every
 * one is the same `LocalProofRefused`. Time through `TestClock`; the FIFO test runs live, bounded.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Context, Duration, Effect, Exit, Layer, Logger, Redacted, References } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as LocalProof from "../src/LocalProof.ts"
import * as ServerSecretStore from "../src/ServerSecretStore.ts"
import * as Sessions from "../src/SessionCredentialService.ts"
import * as SigningKeyring from "../src/SigningKeyring.ts"

const applicationScopes = ["read:hello", "write:hello"]
const isRoot = process.getuid?.() === 0

type Options = Partial<LocalProof.Options>

/** The service over memory sessions, with its directory `<temp>/run` unless `options` says otherwise. */
const setup = (options: Options = {}) =>
  Effect.gen(function*() {
    const temp = yield* tempDirectory
    const directory = options.directory ?? Path.join(temp, "run")
    const context = yield* Layer.build(
      LocalProof.layer({ applicationScopes, ...options, directory }).pipe(
        Layer.provideMerge(Sessions.layerMemory()),
        Layer.provide(SigningKeyring.layer({ refreshInterval: Duration.days(365) })),
        Layer.provide(ServerSecretStore.layerMemory()),
        Layer.provide(NodeFileSystem.layer)
      )
    )
    return {
      temp,
      directory,
      proof: Context.get(context, LocalProof.LocalProof),
      sessions: Context.get(context, Sessions.SessionCredentialService)
    }
  })

/** Writes the file as a local tool does: created exclusively with mode 0600. */
const writeProof = (challenge: LocalProof.Challenge, contents: string | Uint8Array, mode = 0o600) => {
  const path = Path.join(challenge.directory, challenge.fileName)
  Fs.writeFileSync(path, contents, { mode, flag: "wx" })
  // The umask may have taken bits away (never added them); the test says which mode it means.
  Fs.chmodSync(path, mode)
  return path
}

const nonceOf = (challenge: LocalProof.Challenge) => `${Redacted.value(challenge.nonce)}\n`

/** The refusal of `effect`, checked to be the one generic error (no field but its tag). */
const refused = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), "expected a refusal")
    const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
    const value = error !== undefined && error._tag === "Fail"
      ? error.error as { _tag: string; message: string }
      : undefined
    assert.strictEqual(value?._tag, "LocalProofRefused")
    assert.strictEqual(value?.message, "The local proof was not accepted")
    assert.deepStrictEqual(Object.keys(value ?? {}).filter((key) => key !== "_tag"), [])
  })

describe("LocalProof", () => {
  it.effect("as the same user: a bearer session with the standard bundle, the file unlinked, the challenge gone", () =>
    Effect.gen(function*() {
      const { directory, proof, sessions } = yield* setup()
      assert.strictEqual(Fs.lstatSync(directory).mode & 0o7777, 0o700)
      const challenge = yield* proof.challenge
      assert.match(challenge.fileName, LocalProof.fileNamePattern)
      assert.strictEqual(challenge.directory, directory)
      assert.strictEqual(challenge.expiresAt, 60_000)
      assert.isAtLeast(Buffer.from(Redacted.value(challenge.nonce), "base64url").byteLength, 16)
      assert.strictEqual(proof.outstanding(), 1)
      const path = writeProof(challenge, nonceOf(challenge))
      const { session, token } = yield* proof.redeem(challenge.fileName, { label: "a local tool" })
      assert.strictEqual(session.method, "local-proof")
      assert.strictEqual(session.transport, "bearer")
      assert.strictEqual(session.subject, "owner")
      assert.deepStrictEqual(session.scopes, applicationScopes)
      assert.strictEqual(session.client.label, "a local tool")
      assert.strictEqual((yield* sessions.verify(token)).sid, session.sid)
      assert.isFalse(Fs.existsSync(path))
      assert.strictEqual(proof.outstanding(), 0)
    }).pipe(Effect.scoped))

  it.effect("the nonce without a trailing newline is accepted too; each challenge has its own name and nonce", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const first = yield* proof.challenge
      const second = yield* proof.challenge
      assert.notStrictEqual(first.fileName, second.fileName)
      assert.notStrictEqual(Redacted.value(first.nonce), Redacted.value(second.nonce))
      writeProof(second, Redacted.value(second.nonce))
      assert.strictEqual((yield* proof.redeem(second.fileName)).session.method, "local-proof")
    }).pipe(Effect.scoped))

  it.effect("configured scopes are used; the default is never administrative", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup({ scopes: ["read:hello", "read:access"] })
      const challenge = yield* proof.challenge
      writeProof(challenge, nonceOf(challenge))
      assert.deepStrictEqual((yield* proof.redeem(challenge.fileName)).session.scopes, ["read:hello", "read:access"])
      const bad = yield* Effect.exit(setup({ scopes: ["not a scope"] }))
      assert.isTrue(Exit.isFailure(bad))
    }).pipe(Effect.scoped))

  it.effect("refused: a symbolic link in place of the file (the link is removed, its target untouched)", () =>
    Effect.gen(function*() {
      const { proof, temp } = yield* setup()
      const challenge = yield* proof.challenge
      const target = Path.join(temp, "elsewhere")
      Fs.writeFileSync(target, nonceOf(challenge), { mode: 0o600 })
      const path = Path.join(challenge.directory, challenge.fileName)
      Fs.symlinkSync(target, path)
      yield* refused(proof.redeem(challenge.fileName))
      assert.isFalse(Fs.existsSync(path) || isLink(path))
      assert.strictEqual(Fs.readFileSync(target, "utf8"), nonceOf(challenge))
    }).pipe(Effect.scoped))

  it.live("refused: a FIFO, at once (no waiting for a writer)", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const challenge = yield* proof.challenge
      const path = Path.join(challenge.directory, challenge.fileName)
      ChildProcess.execFileSync("mkfifo", ["-m", "600", path])
      const started = Date.now()
      yield* refused(proof.redeem(challenge.fileName)).pipe(
        Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die(new Error("the FIFO hung")) })
      )
      assert.isBelow(Date.now() - started, 2_000)
      assert.isFalse(Fs.existsSync(path))
    }).pipe(Effect.scoped))

  it.effect("refused: mode 0644", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const challenge = yield* proof.challenge
      const path = writeProof(challenge, nonceOf(challenge), 0o644)
      yield* refused(proof.redeem(challenge.fileName))
      assert.isFalse(Fs.existsSync(path))
    }).pipe(Effect.scoped))

  it.effect("refused: a reused challenge (used once, then gone, even with the file written again)", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const challenge = yield* proof.challenge
      writeProof(challenge, nonceOf(challenge))
      yield* proof.redeem(challenge.fileName)
      const again = writeProof(challenge, nonceOf(challenge))
      yield* refused(proof.redeem(challenge.fileName))
      // A name this instance holds no challenge for is not touched (another instance may have issued it).
      assert.isTrue(Fs.existsSync(again))
    }).pipe(Effect.scoped))

  it.effect("refused: a failed redemption burns the challenge too (a wrong nonce, then the right one)", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const challenge = yield* proof.challenge
      writeProof(challenge, "not the nonce\n")
      yield* refused(proof.redeem(challenge.fileName))
      writeProof(challenge, nonceOf(challenge))
      yield* refused(proof.redeem(challenge.fileName))
    }).pipe(Effect.scoped))

  it.effect("refused: an expired challenge (TestClock, 61 s), its file unlinked; 59 s is still in time", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const late = yield* proof.challenge
      const inTime = yield* proof.challenge
      yield* TestClock.adjust("59 seconds")
      writeProof(inTime, nonceOf(inTime))
      yield* proof.redeem(inTime.fileName)
      yield* TestClock.adjust("2 seconds")
      const path = writeProof(late, nonceOf(late))
      yield* refused(proof.redeem(late.fileName))
      assert.isFalse(Fs.existsSync(path))
    }).pipe(Effect.scoped))

  it.effect("refused: a wrong nonce, and a file name this server would not make (nothing outside is touched)", () =>
    Effect.gen(function*() {
      const { proof, temp } = yield* setup()
      const challenge = yield* proof.challenge
      const nonce = Redacted.value(challenge.nonce)
      writeProof(challenge, `${nonce.slice(0, -1)}${nonce.endsWith("A") ? "B" : "A"}\n`)
      yield* refused(proof.redeem(challenge.fileName))
      const outside = Path.join(temp, "victim")
      Fs.writeFileSync(outside, "x")
      for (const name of ["../victim", "lp-", `${challenge.fileName}x`, "LP-AAAAAAAAAAAAAAAAAAAAAAAAAA", ""]) {
        yield* refused(proof.redeem(name))
      }
      assert.isTrue(Fs.existsSync(outside))
    }).pipe(Effect.scoped))

  it.effect("refused: a file over 1 KB (the nonce, then padding)", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const challenge = yield* proof.challenge
      const path = writeProof(challenge, nonceOf(challenge).padEnd(LocalProof.maxFileBytes + 1, " "))
      yield* refused(proof.redeem(challenge.fileName))
      assert.isFalse(Fs.existsSync(path))
    }).pipe(Effect.scoped))

  it.effect("the cap on outstanding challenges: beyond it refused, and room again once they expire", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup({ maxOutstanding: 3 })
      for (let i = 0; i < 3; i++) yield* proof.challenge
      yield* refused(proof.challenge)
      assert.strictEqual(proof.outstanding(), 3)
      yield* TestClock.adjust("60 seconds")
      yield* proof.challenge
      assert.strictEqual(proof.outstanding(), 1)
    }).pipe(Effect.scoped))

  it.effect("an expired challenge's file, written but never redeemed, is removed by the next challenge", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const abandoned = yield* proof.challenge
      const path = writeProof(abandoned, nonceOf(abandoned))
      yield* TestClock.adjust("61 seconds")
      yield* proof.challenge
      assert.isFalse(Fs.existsSync(path))
      assert.strictEqual(proof.outstanding(), 1)
    }).pipe(Effect.scoped))

  it.live("hostile file names (fast-check): always refused, the outstanding challenge untouched, nothing outside removed", () =>
    Effect.gen(function*() {
      const { directory, proof, temp } = yield* setup()
      const challenge = yield* proof.challenge
      const path = writeProof(challenge, nonceOf(challenge))
      const outside = Path.join(temp, "victim")
      Fs.writeFileSync(outside, "x")
      const names = fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.string({ unit: fc.constantFrom(..."lp-abcz09./\\\u0000%"), maxLength: 40 }),
        fc.constantFrom("../victim", "lp-../../victim", `${challenge.fileName}/..`, `./${challenge.fileName}`)
      ).filter((name) => name !== challenge.fileName)
      const samples = fc.sample(names, { numRuns: 300, seed: 22 })
      for (const name of samples) yield* refused(proof.redeem(name))
      assert.isTrue(Fs.existsSync(outside))
      assert.isTrue(Fs.existsSync(path))
      assert.deepStrictEqual(Fs.readdirSync(directory), [challenge.fileName])
      yield* proof.redeem(challenge.fileName)
    }).pipe(Effect.scoped))

  it.live("file contents (fast-check): anything but the nonce, with at most one trailing newline, is refused", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const contents = fc.oneof(
        fc.uint8Array({ maxLength: 96 }),
        fc.string({ maxLength: 96 }).map((text) => new TextEncoder().encode(text))
      )
      for (const bytes of fc.sample(contents, { numRuns: 150, seed: 9449 })) {
        const challenge = yield* proof.challenge
        const text = new TextDecoder().decode(bytes)
        const nonce = Redacted.value(challenge.nonce)
        if (text === nonce || text === `${nonce}\n` || text === `${nonce}\r\n`) continue
        writeProof(challenge, bytes)
        yield* refused(proof.redeem(challenge.fileName))
      }
      // Near misses: the nonce with two newlines, a leading space, a prefix, a different case.
      for (
        const variant of [
          (n: string) => `${n}\n\n`,
          (n: string) => ` ${n}`,
          (n: string) => n.slice(1),
          (n: string) => n.toUpperCase() === n ? n.toLowerCase() : n.toUpperCase()
        ]
      ) {
        const challenge = yield* proof.challenge
        writeProof(challenge, variant(Redacted.value(challenge.nonce)))
        yield* refused(proof.redeem(challenge.fileName))
      }
    }).pipe(Effect.scoped))

  it.effect("the default cap is 1,000", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      for (let i = 0; i < LocalProof.defaultMaxOutstanding; i++) yield* proof.challenge
      yield* refused(proof.challenge)
    }).pipe(Effect.scoped))

  it.live("redeemed at once from many fibers: exactly one session", () =>
    Effect.gen(function*() {
      const { proof } = yield* setup()
      const challenge = yield* proof.challenge
      writeProof(challenge, nonceOf(challenge))
      const exits = yield* Effect.forEach(
        Array.from({ length: 16 }, () => Effect.exit(proof.redeem(challenge.fileName))),
        (each) => each,
        { concurrency: "unbounded" }
      )
      assert.strictEqual(exits.filter(Exit.isSuccess).length, 1)
    }).pipe(Effect.scoped))

  it.effect.skipIf(!isRoot)(
    "refused: a file of another owner (chowned to uid 65534; needs root)",
    () =>
      Effect.gen(function*() {
        const { proof } = yield* setup()
        const challenge = yield* proof.challenge
        const path = writeProof(challenge, nonceOf(challenge))
        Fs.chownSync(path, 65534, 65534)
        yield* refused(proof.redeem(challenge.fileName))
        assert.isFalse(Fs.existsSync(path))
      }).pipe(Effect.scoped)
  )

  it.effect("logs: an unavailable directory is a warning when built; each refusal's reason is a debug line, never the nonce", () =>
    Effect.gen(function*() {
      const logs: Array<{ readonly level: string; readonly text: string }> = []
      const logger = Logger.layer([
        Logger.make(({ logLevel, message }) =>
          logs.push({ level: logLevel, text: Array.isArray(message) ? message.join(" ") : String(message) })
        )
      ])
      const temp = yield* tempDirectory
      const loose = Path.join(temp, "loose")
      Fs.mkdirSync(loose, { mode: 0o755 })
      Fs.chmodSync(loose, 0o755)
      yield* Effect.gen(function*() {
        yield* setup({ directory: loose })
        const { proof } = yield* setup()
        const challenge = yield* proof.challenge
        writeProof(challenge, nonceOf(challenge), 0o644)
        yield* refused(proof.redeem(challenge.fileName))
        assert.deepStrictEqual(
          logs.filter((each) => each.level === "Warn").map((each) => each.text),
          [`Local proof is unavailable: ${loose}: its mode is 0755, not exactly 0700; it is not changed: check what it holds, then run chmod 700 '${loose}'`]
        )
        const debug = logs.filter((each) => each.level === "Debug").map((each) => each.text)
        assert.include(debug, `Local proof refused: ${challenge.fileName}: the file's mode is 0644, not 0600`)
        assert.isFalse(logs.some((each) => each.text.includes(Redacted.value(challenge.nonce))))
      }).pipe(Effect.provide(logger), Effect.provideService(References.MinimumLogLevel, "Debug"))
    }).pipe(Effect.scoped))

  describe("the directory", () => {
    it.effect("a pre-existing directory with mode 0755 is refused and left as it is: unavailable", () =>
      Effect.gen(function*() {
        const temp = yield* tempDirectory
        const directory = Path.join(temp, "run")
        Fs.mkdirSync(directory, { mode: 0o755 })
        Fs.chmodSync(directory, 0o755)
        const { proof } = yield* setup({ directory })
        yield* refused(proof.challenge)
        assert.strictEqual(Fs.lstatSync(directory).mode & 0o7777, 0o755)
      }).pipe(Effect.scoped))

    it.effect("a directory loosened to 0755 after the challenge: the redemption is refused", () =>
      Effect.gen(function*() {
        const { directory, proof } = yield* setup()
        const challenge = yield* proof.challenge
        writeProof(challenge, nonceOf(challenge))
        Fs.chmodSync(directory, 0o755)
        yield* refused(proof.redeem(challenge.fileName))
      }).pipe(Effect.scoped))

    it.effect("a symbolic link to a private directory is refused, before and after the challenge", () =>
      Effect.gen(function*() {
        const temp = yield* tempDirectory
        const real = Path.join(temp, "real")
        Fs.mkdirSync(real, { mode: 0o700 })
        const directory = Path.join(temp, "run")
        Fs.symlinkSync(real, directory)
        yield* refused((yield* setup({ directory })).proof.challenge)
        // Swapped in after a challenge: the file is neither read nor removed through the link.
        const { directory: own, proof } = yield* setup()
        const challenge = yield* proof.challenge
        Fs.renameSync(own, real + "2")
        Fs.symlinkSync(real + "2", own)
        const file = Path.join(real + "2", challenge.fileName)
        Fs.writeFileSync(file, nonceOf(challenge), { mode: 0o600 })
        yield* refused(proof.redeem(challenge.fileName))
        assert.isTrue(Fs.existsSync(file))
      }).pipe(Effect.scoped))

    it.effect.skipIf(!isRoot)(
      "a directory of another owner is refused (needs root to chown)",
      () =>
        Effect.gen(function*() {
          const temp = yield* tempDirectory
          const directory = Path.join(temp, "run")
          Fs.mkdirSync(directory, { mode: 0o700 })
          Fs.chownSync(directory, 65534, 65534)
          yield* refused((yield* setup({ directory })).proof.challenge)
        }).pipe(Effect.scoped)
    )

    it.effect("created 0700 whatever the umask", () =>
      Effect.gen(function*() {
        const before = process.umask(0o277)
        const built = yield* Effect.ensuring(setup(), Effect.sync(() => process.umask(before)))
        assert.strictEqual(Fs.lstatSync(built.directory).mode & 0o7777, 0o700)
      }).pipe(Effect.scoped))

    it("directoryFor: $XDG_RUNTIME_DIR/gatehouse when absolute, else <stateDir>/run", () => {
      assert.strictEqual(
        LocalProof.directoryFor({ stateDir: "/s", runtimeDir: "/run/user/1000/" }),
        "/run/user/1000/gatehouse"
      )
      assert.strictEqual(LocalProof.directoryFor({ stateDir: "/s/", runtimeDir: "relative" }), "/s/run")
      assert.strictEqual(LocalProof.directoryFor({ stateDir: ".gatehouse" }), ".gatehouse/run")
    })
  })
})

const isLink = (path: string) => {
  try {
    return Fs.lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}
