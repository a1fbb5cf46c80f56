/**
 * JSON request bodies: `application/json` only (415 otherwise, whatever the body), a size limit
 * (413), well-formed JSON (400) and a Schema (400). The Schema's own message is not echoed back,
 * because it can quote the input, and the input may hold a credential.
 */
import { ByteSize, Effect, Schema } from "effect"
import { HttpIncomingMessage, HttpServerRequest } from "effect/http"
import * as AuthError from "./AuthError.ts"

const jsonType = /^application\/json\s*(?:;.*)?$/i

export const isJson = (request: HttpServerRequest.HttpServerRequest): boolean =>
  jsonType.test(request.headers["content-type"] ?? "")

/** Reads and decodes a JSON body; `expected` describes the shape for the 400 message. */
export const read = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  options: { readonly maxBytes: number; readonly expected: string; readonly optional?: boolean }
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
