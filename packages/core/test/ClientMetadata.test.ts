/**
 * The plain-text rule of `ClientMetadata`: one Schema refuses control and bidirectional characters
 * in every field (so every route and the CLI refuse them), and `clip` removes them from values no
 * Schema checked.
 */
import { assert, describe, it } from "@effect/vitest"
import { BootstrapCredentialService, ClientMetadata, GrantStore } from "@gatehouse-auth/core"
import { controlCharacter } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Schema } from "effect"
import * as fc from "fast-check"
import { sessionsMemory } from "./fixtures/sessions.ts"

const plain = fc.string({ unit: "grapheme", maxLength: 20 }).filter(ClientMetadata.isPlainText)

/** A plain string with one control character somewhere in it, short enough for every field. */
const tainted = fc.tuple(plain, controlCharacter, plain).map(([before, control, after]) =>
  `${before}${control}${after}`.slice(-30)
).filter((text) => !ClientMetadata.isPlainText(text))

const fields = ["label", "deviceType", "os", "browser", "ip"] as const
const decode = Schema.decodeUnknownExit(ClientMetadata.ClientMetadata)

describe("ClientMetadata: plain text only", () => {
  it("property: a control or bidi character in any field is refused", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), tainted, (field, text) => {
        assert.isTrue(decode({ [field]: text })._tag === "Failure", JSON.stringify(text))
        assert.isFalse(Schema.is(ClientMetadata.Label)(text))
      }),
      { numRuns: 500 }
    )
  })

  it("property: plain text within the limits is accepted, emoji and other scripts included", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), plain, (field, text) => {
        assert.isTrue(decode({ [field]: text.slice(0, 30) })._tag === "Success", JSON.stringify(text))
      }),
      { numRuns: 500 }
    )
    assert.isTrue(decode({ label: "Anna's phone 📱 — هاتف" })._tag === "Success")
  })

  it("property: clip leaves no control character and fits the Schema", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.string({ unit: "binary", maxLength: 200 }), (field, text) => {
        const clipped = ClientMetadata.clip({ [field]: text })
        assert.isTrue(ClientMetadata.isPlainText(clipped[field] ?? ""))
        assert.isTrue(decode(clipped)._tag === "Success")
      }),
      { numRuns: 500 }
    )
  })

  it.effect("a pairing link's label: refused by the core, with a message that says why", () =>
    Effect.gen(function*() {
      const grants = yield* BootstrapCredentialService.BootstrapCredentialService
      const error = yield* Effect.flip(
        grants.issue({ subject: "owner", scopes: ["read:hello"], label: "x\u001b]52;c;aGk=\u0007" })
      )
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.include(error.message, "plain text")
    }).pipe(
      Effect.provide(BootstrapCredentialService.layer),
      Effect.provide(Layer.merge(GrantStore.layerMemory, sessionsMemory()))
    ))
})
