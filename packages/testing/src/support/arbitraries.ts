/**
 * fast-check arbitraries the hostile-input tests share. Written out from the code points, not
 * from the rule they test (`ClientMetadata`'s), so a gap in the rule is a failing property.
 */
import * as fc from "fast-check"

/** One character the door must refuse: C0 (tab and line breaks too), DEL, C1, ALM, LRM/RLM, LS/PS, bidi embeddings, overrides and isolates. */
export const controlCharacter: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0x00, max: 0x1f }),
  fc.constant(0x7f),
  fc.integer({ min: 0x80, max: 0x9f }),
  fc.constantFrom(0x061c, 0x200e, 0x200f, 0x2028, 0x2029),
  fc.integer({ min: 0x202a, max: 0x202e }),
  fc.integer({ min: 0x2066, max: 0x2069 })
).map((codePoint) => String.fromCodePoint(codePoint))
