/**
 * Requests refused before any route sees them, answered in the contract's error shape
 * `{ "error": { "code", "message" } }` like every other refusal:
 *
 * - `installClientErrorHandler(server)`: what Node's HTTP parser refuses (control bytes in a
 *   header, headers over the size limit, a negative or doubled `Content-Length`, a bad request
 *   line). Node's default answer to these is an empty `400` or `431`; Node calls the server's
 *   `clientError` listener instead when there is one, so this module is that listener.
 * - `routeNotFound`: a path no route matches, or one the router cannot even decode
 *   (`/api/%E0%A4%A`); this global middleware turns the router's bare, empty 404 into the JSON one.
 *   Being middleware, not a catch-all route, it claims no path an application might serve.
 */
import { Cause, Effect, Option } from "effect"
import { HttpRouter, HttpServerError } from "effect/http"
import type * as Http from "node:http"
import type * as Net from "node:net"
import * as AuthError from "./AuthError.ts"

/** The answer to a parser error: its status, code and message (Node's statuses kept). */
export const describeClientError = (
  errorCode: string | undefined
): { readonly status: number; readonly reason: string; readonly code: AuthError.Code; readonly message: string } => {
  switch (errorCode) {
    case "HPE_HEADER_OVERFLOW":
      return {
        status: 431,
        reason: "Request Header Fields Too Large",
        code: "invalid_request",
        message: "The request headers are too large"
      }
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return {
        status: 413,
        reason: "Payload Too Large",
        code: "payload_too_large",
        message: "The request is too large"
      }
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, reason: "Request Timeout", code: "invalid_request", message: "The request took too long" }
    default:
      return { status: 400, reason: "Bad Request", code: "invalid_request", message: "The request is malformed" }
  }
}

/**
 * The whole HTTP/1.1 response for a parser error, as bytes for the socket: the connection closes
 * after it (the parser's state is unknown), and nothing of the request is echoed.
 */
export const clientErrorResponse = (errorCode: string | undefined): string => {
  const { code, message, reason, status } = describeClientError(errorCode)
  const body = JSON.stringify({ error: { code, message } })
  return [
    `HTTP/1.1 ${status} ${reason}`,
    "content-type: application/json",
    "cache-control: no-store",
    `content-length: ${Buffer.byteLength(body)}`,
    "connection: close",
    "",
    body
  ].join("\r\n")
}

/**
 * Answers Node's parser errors on `server` with `clientErrorResponse`, as Node's own handler does
 * (nothing when the socket is gone or a response is already being written on it). Returns `server`.
 */
export const installClientErrorHandler = <S extends Http.Server>(server: S): S => {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Net.Socket) => {
    const inProgress = (socket as { readonly _httpMessage?: { readonly headersSent?: boolean } })._httpMessage
    if (error.code === "ECONNRESET" || !socket.writable || inProgress?.headersSent === true) {
      socket.destroy()
      return
    }
    socket.end(clientErrorResponse(error.code))
  })
  return server
}

/**
 * Global router middleware: the router's `RouteNotFound` (a path it cannot decode, or a path
 * parameter over its length limit) answered as the contract's JSON 404.
 */
export const routeNotFound = HttpRouter.middleware(
  Effect.succeed((httpApp) =>
    Effect.catchCause(httpApp, (cause) => {
      const failure = Cause.findErrorOption(cause)
      return Option.isSome(failure) && HttpServerError.isHttpServerError(failure.value) &&
          failure.value.reason._tag === "RouteNotFound"
        ? Effect.succeed(AuthError.toResponse(AuthError.notFound()))
        : Effect.failCause(cause)
    })
  ),
  { global: true }
)
