/**
 * What a client says about itself when it pairs (a label, its device type, OS and browser) and the
 * address the server saw it at. Every field is optional and length-limited by this one Schema: a
 * route refuses a body that breaks it, and `clip` cuts values from anywhere else (request headers)
 * to the same limits, so a stored record always fits.
 *
 * The text is plain text: no control character (C0, DEL, C1), no line or paragraph separator and no
 * bidirectional control. A label is shown in terminals (`gatehouse sessions list`) and in web
 * pages, where such characters are commands (ANSI escapes, OSC 52 writes the clipboard) or make
 * text read differently from what it is (a right-to-left override).
 */
import { Schema } from "effect"

/** The longest value of each field, in characters. */
export const limits = { label: 128, deviceType: 32, os: 64, browser: 64, ip: 64 } as const

/**
 * The characters plain text never holds: C0 controls (tab and line breaks too), DEL, C1 controls,
 * the Arabic letter mark, LRM/RLM, the line and paragraph separators, and the bidirectional
 * embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069).
 */
export const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u

/** Whether `text` holds none of `controlCharacters`. */
export const isPlainText = (text: string): boolean => !controlCharacters.test(text)

/** What a caller is told when a field is not plain text. */
export const problem = "client metadata and labels must be plain text (no control or bidirectional characters)"

const plainText = Schema.makeFilter<string>((text) => isPlainText(text) || problem, {
  description: "plain text: no control or bidirectional characters"
})

/** A string of at most `max` characters of plain text. */
export const PlainText = (max: number) => Schema.String.check(Schema.isMaxLength(max), plainText)

const text = (max: number) => Schema.optional(PlainText(max))

/** What a person calls a device or a pairing link ("Anna's phone"). */
export const Label = PlainText(limits.label)

/** What a client may describe about itself in a request body (the address is the server's to say). */
export const ClientDescription = Schema.Struct({
  label: Schema.optional(Label),
  deviceType: text(limits.deviceType),
  os: text(limits.os),
  browser: text(limits.browser)
})
export type ClientDescription = typeof ClientDescription.Type

/** What a session record keeps about its client. */
export const ClientMetadata = Schema.Struct({ ...ClientDescription.fields, ip: text(limits.ip) })
export type ClientMetadata = typeof ClientMetadata.Type

const everyControlCharacter = new RegExp(controlCharacters.source, "gu")

/** `text` with every control or bidirectional character replaced by U+FFFD, the replacement character. */
export const replaceControlCharacters = (text: string): string => text.replace(everyControlCharacter, "\uFFFD")

/**
 * `client` with every field made plain text (`replaceControlCharacters`), cut to its limit, and
 * absent fields left out: for values a Schema did not check (request headers, records stored
 * before the rule), so what is stored and shown always fits `ClientMetadata`.
 */
export const clip = (client: ClientMetadata = {}): ClientMetadata => {
  const clipped: Record<string, string> = {}
  for (const field of Object.keys(limits) as Array<keyof typeof limits>) {
    const value = client[field]
    if (typeof value === "string") clipped[field] = replaceControlCharacters(value).slice(0, limits[field])
  }
  return clipped
}
