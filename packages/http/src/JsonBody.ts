/**
 * JSON request bodies: `application/json` only (415 otherwise, whatever the body), a size limit
 * (413), a nesting limit (400), well-formed JSON (400) and a Schema (400). The Schema's own message
 * is not echoed back, because it can quote the input, and the input may hold a credential.
 *
 * The nesting limit is checked on the raw text before `JSON.parse`: a body of 64 KiB can nest
 * 32 000 arrays, and what walks the parsed value (the Schema's decoding, a handler, a log) recurses
 * once per level, so a deep body was a stack overflow, a 500 and a stack trace in the log.
 */
import { ByteSize, Effect, Schema } from "effect"
import { HttpIncomingMessage, HttpServerRequest } from "effect/http"
import * as AuthError from "./AuthError.ts"

const jsonType = /^application\/json\s*(?:;.*)?$/i

/** How deep a JSON body may nest arrays and objects (`[[1]]` is 2 levels). */
export const defaultMaxDepth = 64

/**
 * The deepest nesting of arrays and objects in `text`, counting `[` and `{` outside strings; it
 * stops as soon as `limit` is passed. Not a validator: malformed text is `JSON.parse`'s to refuse.
 */
export const depthExceeds = (text: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === 0x5c) i++ // a backslash escapes the next character, a quote included
      else if (char === 0x22) inString = false
    } else if (char === 0x22) inString = true
    else if (char === 0x5b || char === 0x7b) {
      if (++depth > limit) return true
    } else if (char === 0x5d || char === 0x7d) depth--
  }
  return false
}

export const isJson = (request: HttpServerRequest.HttpServerRequest): boolean =>
  jsonType.test(request.headers["content-type"] ?? "")

/** Reads and decodes a JSON body; `expected` describes the shape for the 400 message. */
export const read = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  options: {
    readonly maxBytes: number
    readonly expected: string
    readonly optional?: boolean
    /** Default `defaultMaxDepth`. */
    readonly maxDepth?: number | undefined
  }
): Effect.Effect<S["Type"], AuthError.HttpAuthError, HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const declaredLength = Number(request.headers["content-length"] ?? "0")
    const hasBody = declaredLength > 0 || request.headers["transfer-encoding"] !== undefined
    if (!hasBody && options.optional === true && request.headers["content-type"] === undefined) {
      return yield* decode(schema, {}, options.expected)
    }
    if (!isJson(request)) return yield* AuthError.unsupportedMediaType()
    if (declaredLength > options.maxBytes) return yield* AuthError.payloadTooLarge()
    const text = yield* request.text.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(options.maxBytes)),
      Effect.mapError((error) =>
        error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
          ? AuthError.payloadTooLarge()
          : AuthError.invalidRequest("The request body could not be read")
      )
    )
    if (text.trim() === "" && options.optional === true) return yield* decode(schema, {}, options.expected)
    const maxDepth = options.maxDepth ?? defaultMaxDepth
    if (depthExceeds(text, maxDepth)) {
      return yield* AuthError.invalidRequest(`The request body nests deeper than ${maxDepth} levels`)
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return yield* AuthError.invalidRequest("The request body is not valid JSON")
    }
    return yield* decode(schema, json, options.expected)
  })

const decode = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, input: unknown, expected: string) =>
  Schema.decodeUnknownEffect(schema)(input).pipe(
    Effect.mapError(() => AuthError.invalidRequest(`Expected a JSON body like ${expected}`))
  ) as Effect.Effect<S["Type"], AuthError.HttpAuthError>
