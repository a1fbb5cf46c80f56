/**
 * What a client says about itself when it pairs (a label, its device type, OS and browser) and the
 * address the server saw it at. Every field is optional and length-limited by this one Schema: a
 * route refuses a body that breaks it, and `clip` cuts values from anywhere else (request headers)
 * to the same limits, so a stored record always fits.
 */
import { Schema } from "effect"

/** The longest value of each field, in characters. */
export const limits = { label: 128, deviceType: 32, os: 64, browser: 64, ip: 64 } as const

const text = (max: number) => Schema.optional(Schema.String.check(Schema.isMaxLength(max)))

/** What a person calls a device or a pairing link ("Anna's phone"). */
export const Label = Schema.String.check(Schema.isMaxLength(limits.label))

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

/** `client` with every field cut to its limit and absent fields left out. */
export const clip = (client: ClientMetadata = {}): ClientMetadata => {
  const clipped: Record<string, string> = {}
  for (const field of Object.keys(limits) as Array<keyof typeof limits>) {
    const value = client[field]
    if (typeof value === "string") clipped[field] = value.slice(0, limits[field])
  }
  return clipped
}
