/**
 * What the CLI prints stays text: `Terminal.escape` (every cell of `sessions list`), and the
 * command itself on a session whose stored label holds an ANSI escape and an OSC 52 clipboard write.
 */
import { assert, describe, it } from "@effect/vitest"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Terminal from "../src/Terminal.ts"
import { gatehouse, pairingUrl, pairWith, serve } from "./helpers.ts"

/** What a terminal would act on: C0, DEL, C1 and the bidirectional controls. */
const terminalControl = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u

describe("Terminal.escape", () => {
  it("property: no control or bidi character survives, and plain text is unchanged", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 100 }), (text) => {
        const escaped = Terminal.escape(text)
        assert.notMatch(escaped, terminalControl)
        if (!terminalControl.test(text) && !text.includes("\\")) assert.strictEqual(escaped, text)
      }),
      { numRuns: 300 }
    )
    assert.strictEqual(Terminal.escape("a\u001b[31mb\u202e\\"), "a\\x1B[31mb\\u{202E}\\\\")
  })
})

describe("gatehouse sessions list", () => {
  it.live("prints a stored label's ANSI and OSC 52 sequences escaped", () =>
    Effect.gen(function*() {
      const stateDir = yield* tempDirectory
      const served = yield* serve(["--port", "0", "--state-dir", stateDir])
      const pairing = yield* pairingUrl(served)
      const paired = yield* pairWith(pairing.origin, pairing.token)
      // The door refuses such a label, so it is written straight into the store, as an older
      // version or another writer of the database might have left it.
      const label = "\u001b[2J\u001b]52;c;ZWNobyBwd25lZA==\u0007\u009b31m\u202eevil"
      const db = new DatabaseSync(Path.join(stateDir, "gatehouse.db"))
      try {
        db.prepare("UPDATE gatehouse_sessions SET client_label = ? WHERE sid = ?").run(label, paired.id)
      } finally {
        db.close()
      }
      const listed = yield* gatehouse(["sessions", "list", "--state-dir", stateDir])
      assert.strictEqual(listed.code, 0, listed.stderr)
      assert.include(listed.stdout, paired.id)
      assert.notMatch(listed.stdout.replace(/\n/g, ""), terminalControl)
      assert.include(listed.stdout, "\\x1B]52;c;ZWNobyBwd25lZA==\\x07\\x9B31m\\u{202E}evil")
    }), 60_000)
})
