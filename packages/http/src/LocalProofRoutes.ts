/**
 * The same-user proof for local tools over HTTP (see core's `LocalProof`; POSIX only):
 *
 * - `POST /api/auth/local-proof/challenge` (no body, or `{}`): `{ nonce, fileName, directory,
 *   expiresAt }`;
 * - `POST /api/auth/local-proof` (`{ "fileName": "..." }`, `application/json` only: 415
 *   otherwise): a bearer session, answered as `POST /api/auth/bootstrap/bearer` answers (the token
 *   in the body, `no-store`), the one other place a bearer session token is handed out.
 *
 * Both only from a loopback peer, judged by the socket's own remote address, never by what a
 * trusted proxy forwarded: a request that carries `Forwarded`, `X-Forwarded-*` or `X-Real-IP` is
 * refused whoever sent it (a reverse proxy on this machine relays other machines' requests from
 * loopback; a local tool sends no such header). A request with an `Origin` that is not allowed is
 * refused too: a web page is not a local tool.
 *
 * Every refusal, whatever its reason (not loopback, forwarded, a bad file, a used, expired or
 * unknown challenge, the directory not private, too many outstanding), is the same `401
 * invalid_credential` with the same message; only a debug log says why. Both routes run under
 * the `pairing` budget of `HttpAuth.pairingAttempt`, as the bootstrap routes do: a refusal keeps its
 * token, so guessing runs into `429`.
 *
 * The routes exist only when a `LocalProof` service is provided to `HttpAuthLayer.layer` (as the
 * access-token routes exist only with `AccessTokens`); without one they are a JSON 404.
 */
import { LocalProof, ServerAuthPolicy } from "@gatehouse-auth/core"
import { Effect, Option, Redacted, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as AuthApi from "./AuthApi.ts"
import * as AuthError from "./AuthError.ts"
import { HttpAuth } from "./HttpAuth.ts"
import { HttpAuthSettings } from "./HttpAuthSettings.ts"
import * as JsonBody from "./JsonBody.ts"
import * as RequestInfo from "./RequestInfo.ts"

const noStore = { "cache-control": "no-store" }

const json = <S extends Schema.ConstraintEncoder<unknown>>(schema: S, body: S["Type"]) =>
  HttpServerResponse.jsonUnsafe(Schema.encodeSync(schema)(body), { headers: noStore })

/** The one answer to every refusal. */
export const refusal = () => AuthError.invalidCredential("The local proof was not accepted")

/** Headers a proxy adds when it relays a request: their presence means the peer is not the client. */
export const forwardingHeaders: ReadonlyArray<string> = [
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-real-ip"
]

/** `127.0.0.0/8` or `::1`, IPv4-mapped or not. */
export const isLoopbackAddress = (address: string): boolean => {
  const plain = address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "")
  return plain !== "localhost" && ServerAuthPolicy.isLoopbackHost(plain)
}

/** The address of the socket the request came on (never a forwarded one). */
export const socketAddress = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const socket = (request.source as { readonly socket?: { readonly remoteAddress?: string } }).socket
  return socket !== undefined ? socket.remoteAddress : Option.getOrUndefined(request.peerAddress)
}

/** Why a request may not use the local proof, or `undefined` when it may. */
export const peerProblem = (
  request: HttpServerRequest.HttpServerRequest,
  settings: { readonly allowedOrigins: ReadonlyArray<string>; readonly publicOrigin: string | undefined }
): string | undefined => {
  const address = socketAddress(request)
  if (address === undefined || !isLoopbackAddress(address)) return `the peer ${address ?? "(unknown)"} is not loopback`
  const forwarded = forwardingHeaders.find((name) => request.headers[name] !== undefined)
  if (forwarded !== undefined) return `the request was relayed (${forwarded})`
  if (!RequestInfo.isOriginAllowed(request, settings.allowedOrigins, settings.publicOrigin)) {
    return "the request came from a web page of another origin"
  }
  return undefined
}

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const found = yield* Effect.serviceOption(LocalProof.LocalProof)
  if (Option.isNone(found)) return
  const proof = found.value
  const auth = yield* HttpAuth
  const settings = yield* HttpAuthSettings
  const readBody = <S extends Schema.ConstraintDecoder<unknown>>(schema: S, expected: string, optional = false) =>
    JsonBody.read(schema, { maxBytes: settings.maxBodyBytes, maxDepth: settings.maxJsonDepth, expected, optional })

  const refuse = (reason: string) =>
    Effect.andThen(Effect.logDebug(`Local proof refused: ${reason}`), Effect.fail(refusal()))

  /** `handler` for a loopback peer only, under the pairing budget; every core refusal is the one answer. */
  const localOnly = <R>(
    handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      LocalProof.LocalProofRefused | AuthError.Mappable,
      R
    >
  ) =>
  (request: HttpServerRequest.HttpServerRequest) =>
    auth.respond(auth.pairingAttempt(
      Effect.gen(function*() {
        const problem = peerProblem(request, settings)
        if (problem !== undefined) return yield* refuse(problem)
        return yield* handler(request)
      }).pipe(Effect.mapError((error) => error._tag === "LocalProofRefused" ? refusal() : error))
    ))

  yield* router.add(
    "POST",
    "/api/auth/local-proof/challenge",
    localOnly(() =>
      Effect.gen(function*() {
        yield* readBody(AuthApi.EmptyRequest, "{}", true)
        const challenge = yield* proof.challenge
        return json(AuthApi.LocalProofChallengeResponse, {
          nonce: Redacted.value(challenge.nonce),
          fileName: challenge.fileName,
          directory: challenge.directory,
          expiresAt: challenge.expiresAt
        })
      })
    )
  )

  yield* router.add(
    "POST",
    "/api/auth/local-proof",
    localOnly((request) =>
      Effect.gen(function*() {
        const body = yield* readBody(AuthApi.LocalProofRequest, `{"fileName": "lp-...", "client": {"label": "..."}}`)
        const client = { ...RequestInfo.describeClient(request), ...body.client }
        // As at the bearer bootstrap: a DPoP proof (no `ath`, no token yet) binds the session to
        // its key, and is used up before the challenge is; with `requireDpop` one is needed.
        const dpopProof = yield* auth.tokenlessProof
        if (Option.isSome(dpopProof)) yield* auth.consumeProof(dpopProof.value)
        const jkt = Option.getOrUndefined(Option.map(dpopProof, (verified) => verified.jkt))
        const { session, token } = yield* proof.redeem(body.fileName, client, jkt)
        const response = json(AuthApi.BearerBootstrapResponse, {
          accessToken: Redacted.value(token),
          tokenType: session.jkt === undefined ? "Bearer" : "DPoP",
          expiresAt: session.expiresAt,
          session: AuthApi.sessionView(session)
        })
        return session.jkt === undefined ? response : yield* auth.withDpopNonce(response)
      })
    )
  )
}))
