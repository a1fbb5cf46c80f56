import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Exit, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Browser, DesktopBootstrap, Serve } from "../src/index.ts"

/** Opens a file with `contents` and returns its descriptor (the reader closes it). */
const fdWith = (contents: string) =>
  Effect.map(tempDirectory, (dir) => {
    const file = Path.join(dir, "credential")
    Fs.writeFileSync(file, contents, { mode: 0o600 })
    return Fs.openSync(file, "r")
  })

const failureMessage = <A>(exit: Exit.Exit<A, DesktopBootstrap.DesktopBootstrapError>) =>
  Exit.isFailure(exit) ? Option.getOrThrow(Exit.findErrorOption(exit)).message : "succeeded"

describe("DesktopBootstrap.readCredential", () => {
  it.live("reads the first line of a file descriptor, trims it and closes the descriptor", () =>
    Effect.gen(function*() {
      const fd = yield* fdWith("ABCD-EFGH-JKMN-PQRS\r\nsecond line\n")
      const credential = yield* DesktopBootstrap.readCredential(fd)
      assert.strictEqual(Redacted.value(credential), "ABCD-EFGH-JKMN-PQRS")
      assert.notInclude(String(credential), "ABCD")
      assert.throws(() => Fs.fstatSync(fd))
    }))

  it.live("a line without a line end is read up to the end of input", () =>
    Effect.gen(function*() {
      const credential = yield* DesktopBootstrap.readCredential(yield* fdWith("  0123456789ABCDEF  "))
      assert.strictEqual(Redacted.value(credential), "0123456789ABCDEF")
    }))

  it.live("refuses an empty line, an overlong line, a standard stream and a closed descriptor", () =>
    Effect.gen(function*() {
      assert.match(
        failureMessage(yield* Effect.exit(DesktopBootstrap.readCredential(yield* fdWith("\n")))),
        /the line is empty/
      )
      assert.match(
        failureMessage(
          yield* Effect.exit(DesktopBootstrap.readCredential(yield* fdWith("A".repeat(2000)), { maxBytes: 1024 }))
        ),
        /longer than 1024 bytes/
      )
      assert.match(failureMessage(yield* Effect.exit(DesktopBootstrap.readCredential(0))), /above 2/)
      // (Not a descriptor closed here: its number could be reused by the test runner meanwhile.)
      assert.match(failureMessage(yield* Effect.exit(DesktopBootstrap.readCredential(4000))), /is not open/)
    }))
})

describe("serve flag checks", () => {
  it("isOrigin accepts scheme://host[:port] only", () => {
    for (const good of ["https://app.example.com", "http://localhost:5173", "https://app.example.com/"]) {
      assert.isTrue(Serve.isOrigin(good), good)
    }
    for (const bad of ["app.example.com", "https://app.example.com/path", "ftp://x", "https://u:p@x.com", "*"]) {
      assert.isFalse(Serve.isOrigin(bad), bad)
    }
  })

  it("the browser opener gets the URL as one argument", () => {
    const url = "http://127.0.0.1:3773/pair#token=ABC&x=1"
    assert.deepStrictEqual(Browser.command(url, "linux"), ["xdg-open", [url]])
    assert.deepStrictEqual(Browser.command(url, "darwin"), ["open", [url]])
    assert.deepStrictEqual(Browser.command(url, "win32"), ["cmd", [
      "/c",
      "start",
      "",
      "http://127.0.0.1:3773/pair#token=ABC^&x=1"
    ]])
  })
})
