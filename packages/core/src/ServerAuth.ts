/**
 * The facade the HTTP layer uses. It knows credentials, not requests: the HTTP layer extracts
 * what a request presents (a cookie token, a bearer token, a WebSocket ticket) and hands it here.
 *
 * - `authenticateHttpRequest`: the cookie first, then `Authorization: Bearer` (a session token, or an
 *   access token when `AccessTokens` is provided and the text is shaped like a JWT). Never a query string.
 * - `authenticateWebSocketUpgrade`: the cookie, or a single-use `wsTicket`.
 * - `exchangeBootstrapCredential`: a pairing or desktop credential for a session (the HTTP layer
 *   decides whether the token goes into a cookie or, for the bearer variant, into the body).
 * - `issueStartupPairingUrl(base)`: `<base>/pair#token=<credential>` with an administrative grant,
 *   one credential per call.
 */
import { Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import * as AccessTokens from "./AccessTokens.ts"
import * as Bootstrap from "./BootstrapCredentialService.ts"
import type { ClientMetadata } from "./ClientMetadata.ts"
import type { InvalidRequest, StoreError } from "./Errors.ts"
import { SessionId } from "./Ids.ts"
import * as Scopes from "./Scopes.ts"
import * as ServerAuthPolicy from "./ServerAuthPolicy.ts"
import * as Sessions from "./SessionCredentialService.ts"

export class MissingCredential extends Schema.TaggedError<MissingCredential>()("MissingCredential", {}) {
  override get message(): string {
    return "Authentication is required"
  }
}

/** A session as the HTTP layer sees it, with how it was presented. */
export interface Authenticated {
  readonly session: Sessions.SessionInfo
  /** `access-token`: a JWT of `AccessTokens` (then `accessToken` says which, and `session.scopes` are its own). */
  readonly via: "cookie" | "bearer" | "access-token" | "ticket" | "none"
  readonly accessToken?: AccessTokens.Verified | undefined
  /**
   * The thumbprint of the DPoP key whose proof came with this request, verified and used up (the
   * HTTP layer sets it): what a credential minted by this request is bound to.
   */
  readonly dpopKey?: string | undefined
}

export interface PresentedCredentials {
  readonly cookie?: Redacted.Redacted<string> | undefined
  readonly bearer?: Redacted.Redacted<string> | undefined
}

export type AuthenticateError = MissingCredential | Sessions.VerifyError | AccessTokens.VerifyError

export interface ServerAuthShape {
  readonly policy: ServerAuthPolicy.ServerAuthPolicyShape
  /** The session the credentials stand for, if any; never fails on a bad credential. */
  readonly getSessionState: (
    credentials: PresentedCredentials
  ) => Effect.Effect<Option.Option<Authenticated>, StoreError>
  readonly authenticateHttpRequest: (
    credentials: PresentedCredentials
  ) => Effect.Effect<Authenticated, AuthenticateError>
  readonly authenticateWebSocketUpgrade: (credentials: {
    readonly cookie?: Redacted.Redacted<string> | undefined
    readonly ticket?: Redacted.Redacted<string> | undefined
  }) => Effect.Effect<Authenticated, AuthenticateError>
  readonly exchangeBootstrapCredential: (
    credential: Redacted.Redacted<string>,
    options?: {
      readonly client?: ClientMetadata | undefined
      readonly proofKeyThumbprint?: string | undefined
      /**
       * The DPoP key (thumbprint) whose proof came with the exchange: the session is bound to it,
       * and it is the key a grant issued with a `proofKeyThumbprint` must match.
       */
      readonly jkt?: string | undefined
      /** How the session's token will be carried (default `cookie`): it decides the lifetimes. */
      readonly transport?: Sessions.IssueInput["transport"]
    }
  ) => Effect.Effect<
    { readonly token: Redacted.Redacted<string>; readonly session: Sessions.SessionInfo },
    Bootstrap.CredentialError | Bootstrap.ProofKeyMismatch | StoreError | InvalidRequest
  >
  readonly issueStartupPairingUrl: (baseUrl: string) => Effect.Effect<
    {
      readonly url: Redacted.Redacted<string>
      readonly credential: Redacted.Redacted<string>
      readonly expiresAt: number
    },
    StoreError | InvalidRequest
  >
}

export class ServerAuth extends Context.Service<ServerAuth, ServerAuthShape>()("@gatehouse-auth/core/ServerAuth") {}

export interface Options {
  /** The application's own scopes (the standard bundle); administrative adds read/write:access. */
  readonly applicationScopes: ReadonlyArray<string>
  /** Subject of sessions paired through startup URLs and administrative links (default "owner"). */
  readonly subject?: string | undefined
  /** TTL of the startup pairing URL's grant (default 5 minutes). */
  readonly startupPairingTtl?: Duration.Input | undefined
}

const unsafeSessionId = SessionId.make("unsafe-no-auth")

/** The session everyone has under `unsafe-no-auth`. */
const unsafeSession = (now: number): Sessions.SessionInfo => ({
  sid: unsafeSessionId,
  subject: "anonymous",
  scopes: [Scopes.admin],
  method: "none",
  transport: "cookie",
  createdAt: now,
  lastSeenAt: now,
  client: {},
  expiresAt: Number.MAX_SAFE_INTEGER,
  absoluteExpiresAt: Number.MAX_SAFE_INTEGER,
  connected: false
})

export const make = Effect.fnUntraced(function*(options: Options) {
  const policy = yield* ServerAuthPolicy.ServerAuthPolicy
  const grants = yield* Bootstrap.BootstrapCredentialService
  const sessions = yield* Sessions.SessionCredentialService
  const accessTokens = Option.getOrUndefined(yield* Effect.serviceOption(AccessTokens.AccessTokens))
  const administrative = Scopes.administrative(options.applicationScopes)
  const unsafe = policy.policy === "unsafe-no-auth"

  const noAuth = Effect.clockWith((clock) =>
    Effect.succeed<Authenticated>({ session: unsafeSession(clock.currentTimeMillisUnsafe()), via: "none" })
  )

  const as = (via: Authenticated["via"]) => (session: Sessions.SessionInfo): Authenticated => ({ session, via })

  /** A bearer token: an access token (a JWT) when the service is there, else a session token. */
  const bearer = (token: Redacted.Redacted<string>): Effect.Effect<Authenticated, AuthenticateError> =>
    accessTokens !== undefined && AccessTokens.looksLikeJwt(Redacted.value(token))
      ? Effect.map(
        accessTokens.verify(token),
        (verified): Authenticated => ({ session: verified.session, via: "access-token", accessToken: verified })
      )
      : Effect.map(sessions.verify(token), as("bearer"))

  /** The first credential presented, in order of preference, decides. */
  const first = (
    candidates: ReadonlyArray<
      readonly [
        Redacted.Redacted<string> | undefined,
        (token: Redacted.Redacted<string>) => Effect.Effect<Authenticated, AuthenticateError>
      ]
    >
  ): Effect.Effect<Authenticated, AuthenticateError> => {
    if (unsafe) return noAuth
    const found = candidates.find(([token]) => token !== undefined)
    return found === undefined ? Effect.fail(new MissingCredential()) : found[1](found[0]!)
  }

  const authenticateHttpRequest = (credentials: PresentedCredentials) =>
    first([
      [credentials.cookie, (token) => Effect.map(sessions.verify(token), as("cookie"))],
      [credentials.bearer, bearer]
    ])

  const stateOf = (credentials: PresentedCredentials) =>
    authenticateHttpRequest(credentials).pipe(
      Effect.map(Option.some),
      Effect.catchTags({
        MissingCredential: () => Effect.succeed(Option.none<Authenticated>()),
        InvalidSessionToken: () => Effect.succeed(Option.none<Authenticated>()),
        ExpiredSessionToken: () => Effect.succeed(Option.none<Authenticated>()),
        InvalidAccessToken: () => Effect.succeed(Option.none<Authenticated>()),
        ExpiredAccessToken: () => Effect.succeed(Option.none<Authenticated>())
      })
    )

  // The cookie first, as everywhere; but a stale cookie (logged out, expired) must not hide a good
  // bearer token sent beside it, just as the HTTP layer's routes fall back to the bearer token.
  const getSessionState = (credentials: PresentedCredentials) =>
    credentials.cookie === undefined || credentials.bearer === undefined
      ? stateOf(credentials)
      : Effect.flatMap(
        stateOf({ cookie: credentials.cookie }),
        (state) => Option.isSome(state) ? Effect.succeed(state) : stateOf({ bearer: credentials.bearer })
      )

  const authenticateWebSocketUpgrade = (credentials: {
    readonly cookie?: Redacted.Redacted<string> | undefined
    readonly ticket?: Redacted.Redacted<string> | undefined
  }) =>
    first([
      [credentials.cookie, (token) => Effect.map(sessions.verify(token), as("cookie"))],
      [credentials.ticket, (token) => Effect.map(sessions.consumeWebSocketTicket(token), as("ticket"))]
    ])

  const exchangeBootstrapCredential = Effect.fn("ServerAuth.exchangeBootstrapCredential")(function*(
    credential: Redacted.Redacted<string>,
    exchange?: Parameters<ServerAuthShape["exchangeBootstrapCredential"]>[1]
  ) {
    const grant = yield* grants.consume(credential, {
      proofKeyThumbprint: exchange?.jkt ?? exchange?.proofKeyThumbprint
    })
    return yield* sessions.issue({
      subject: grant.subject,
      scopes: grant.scopes,
      method: grant.kind === "desktop" ? "desktop" : "pairing",
      transport: exchange?.transport,
      jkt: exchange?.jkt,
      client: { ...exchange?.client, label: exchange?.client?.label ?? grant.label }
    })
  })

  const issueStartupPairingUrl = Effect.fn("ServerAuth.issueStartupPairingUrl")(function*(baseUrl: string) {
    const issued = yield* grants.issue({
      subject: options.subject ?? "owner",
      scopes: administrative,
      ttl: options.startupPairingTtl,
      label: "startup pairing URL"
    })
    return {
      url: Bootstrap.pairingUrl(baseUrl, issued.credential),
      credential: issued.credential,
      expiresAt: issued.expiresAt
    }
  })

  return ServerAuth.of({
    policy,
    getSessionState,
    authenticateHttpRequest,
    authenticateWebSocketUpgrade,
    exchangeBootstrapCredential,
    issueStartupPairingUrl
  })
})

export const layer = (options: Options) => Layer.effect(ServerAuth, make(options))
