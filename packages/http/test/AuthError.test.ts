/**
 * The mapping of core errors onto the contract: at run time (each error's status, code, headers,
 * and what `HttpAuth.respond` does with failures it does not know), and at compile time (the
 * `@ts-expect-error` lines below fail `npm run typecheck` the day they stop being errors).
 */
import { assert, describe, it } from "@effect/vitest"
import {
  AccessTokens,
  Admission,
  BootstrapCredentialService,
  Errors,
  GuestSessionService,
  KeyringStore,
  McpSessionRegistry,
  ServerAuth,
  ServerAuthPolicy,
  ServerSecretStore,
  SessionCredentialService,
  SigningKeyring
} from "@gatehouse-auth/core"
import { Effect, Layer, Logger, Schema } from "effect"
import type { HttpBody } from "effect/http"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { AuthError, HttpAuth, HttpAuthSettings, RateLimiter } from "../src/index.ts"

interface Expected {
  readonly error: AuthError.Mappable
  readonly status: number
  readonly code: AuthError.Code
  readonly message?: string
  readonly headers?: Record<string, string>
}

const passedThrough = AuthError.forbidden("no")
const challenge = { "www-authenticate": `Bearer error="invalid_token"` }

/** One row per tag: the table itself fails to compile when a tag is added or renamed. */
const expected = {
  HttpAuthError: { error: passedThrough, status: 403, code: "forbidden", message: "no" },
  StoreError: {
    error: new Errors.StoreError({ store: "session", operation: "read", cause: new Error("disk on fire") }),
    status: 503,
    code: "service_unavailable",
    headers: { "retry-after": "5" }
  },
  InvalidRequest: {
    error: new Errors.InvalidRequest({ message: "ttl out of range" }),
    status: 400,
    code: "invalid_request",
    message: "ttl out of range"
  },
  MissingCredential: {
    error: new ServerAuth.MissingCredential(),
    status: 401,
    code: "missing_credential",
    headers: { "www-authenticate": "Bearer" }
  },
  InvalidSessionToken: {
    error: new SessionCredentialService.InvalidSessionToken({ reason: "BadSignature" }),
    status: 401,
    code: "invalid_credential",
    // The reason is for logs only.
    message: "The session is not valid",
    headers: challenge
  },
  ExpiredSessionToken: {
    error: new SessionCredentialService.ExpiredSessionToken(),
    status: 401,
    code: "expired_credential",
    headers: challenge
  },
  UnknownCredential: {
    error: new BootstrapCredentialService.UnknownCredential(),
    status: 401,
    code: "invalid_credential",
    message: new BootstrapCredentialService.UnknownCredential().message,
    headers: challenge
  },
  ExpiredCredential: {
    error: new BootstrapCredentialService.ExpiredCredential(),
    status: 401,
    code: "expired_credential",
    message: new BootstrapCredentialService.ExpiredCredential().message,
    headers: challenge
  },
  RevokedCredential: {
    error: new BootstrapCredentialService.RevokedCredential(),
    status: 401,
    code: "invalid_credential",
    message: new BootstrapCredentialService.RevokedCredential().message,
    headers: challenge
  },
  ProofKeyMismatch: {
    error: new BootstrapCredentialService.ProofKeyMismatch(),
    status: 401,
    code: "invalid_credential",
    message: new BootstrapCredentialService.ProofKeyMismatch().message,
    headers: challenge
  },
  TooManyMcpCredentials: {
    error: new McpSessionRegistry.TooManyMcpCredentials({ limit: 3 }),
    status: 503,
    code: "service_unavailable",
    message: new McpSessionRegistry.TooManyMcpCredentials({ limit: 3 }).message,
    headers: { "retry-after": "60" }
  },
  Overloaded: {
    error: new Admission.Overloaded({ gate: "pairing", retryAfterSeconds: 2 }),
    status: 503,
    code: "service_unavailable",
    message: "The server is busy; try again shortly",
    headers: { "retry-after": "2" }
  },
  GuestRevoked: {
    error: new GuestSessionService.GuestRevoked(),
    status: 403,
    code: "guest_revoked",
    message: "This guest session has been revoked"
  },
  InvalidGuestToken: {
    error: new GuestSessionService.InvalidGuestToken({ reason: "Unknown" }),
    status: 401,
    code: "invalid_credential",
    message: "The guest token is not valid",
    headers: challenge
  },
  ExpiredGuestToken: {
    error: new GuestSessionService.ExpiredGuestToken(),
    status: 401,
    code: "expired_credential",
    message: "The guest token has expired",
    headers: challenge
  },
  InvalidAccessToken: {
    error: new AccessTokens.InvalidAccessToken({ reason: "Revoked" }),
    status: 401,
    code: "invalid_credential",
    // The reason is for logs only.
    message: "The access token is not valid",
    headers: challenge
  },
  ExpiredAccessToken: {
    error: new AccessTokens.ExpiredAccessToken(),
    status: 401,
    code: "expired_credential",
    message: "The access token has expired",
    headers: challenge
  },
  ScopesNotHeld: {
    error: new AccessTokens.ScopesNotHeld({ scopes: ["admin"] }),
    status: 403,
    code: "insufficient_scope",
    message: "This needs the scope admin",
    headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="admin"` }
  }
} satisfies { readonly [Tag in AuthError.Mappable["_tag"]]: Expected & { readonly error: { readonly _tag: Tag } } }

/** An error of the application's own: `fromCoreError` must refuse it at compile time. */
class AppError extends Schema.TaggedError<AppError>()("AppError", { message: Schema.String }) {}

// Compile-time checks, run by `npm run typecheck`: each line below is an error, or tsc fails.
export const typeChecks = () => [
  // @ts-expect-error an application's tagged error has no mapping
  AuthError.fromCoreError(new AppError({ message: "mine" })),
  // @ts-expect-error a core error that no request can meet (start-up only) has none either
  AuthError.fromCoreError(new KeyringStore.KeyringError({ reason: "Malformed" })),
  // @ts-expect-error a look-alike is not a core error
  AuthError.fromCoreError({ _tag: "StoreError", message: "The store could not" })
]

/** The errors a service's methods and effects can fail with. */
type ErrorsOf<S> = {
  readonly [K in keyof S]: S[K] extends Effect.Effect<infer _A, infer E, infer _R> ? E
    : S[K] extends (...args: infer _Args) => Effect.Effect<infer _A, infer E, infer _R> ? E
    : never
}[keyof S]

/** Compiles only when `A` is assignable to `B`. */
type Assignable<A extends B, B> = A

// Every error the core services the HTTP layer calls can fail with has a mapping: a new one fails here.
export type ServicesAreMapped = Assignable<
  | ErrorsOf<ServerAuth.ServerAuthShape>
  | ErrorsOf<SessionCredentialService.SessionCredentialServiceShape>
  | ErrorsOf<BootstrapCredentialService.BootstrapCredentialServiceShape>
  | ErrorsOf<McpSessionRegistry.McpSessionRegistryShape>
  | ErrorsOf<AccessTokens.AccessTokensShape>,
  AuthError.CoreError
>

const bodyOf = (response: HttpServerResponse.HttpServerResponse): any =>
  JSON.parse(new TextDecoder().decode((response.body as HttpBody.Uint8Array).body))

/** `HttpAuth` (and its rate limiter) over memory stores. */
const HttpAuthLive = HttpAuth.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(HttpAuthSettings.layer({ applicationScopes: [] }), RateLimiter.layer())),
  Layer.provide(ServerAuth.layer({ applicationScopes: [] })),
  Layer.provide(
    BootstrapCredentialService.layerMemory.pipe(Layer.provideMerge(SessionCredentialService.layerMemory()))
  ),
  Layer.provide(SigningKeyring.layer()),
  Layer.provide(ServerSecretStore.layerMemory()),
  Layer.provideMerge(ServerAuthPolicy.layer({ host: "127.0.0.1", port: 3773 }))
)

/** Runs `respond` over a failing handler; returns the response and what was logged. */
const respondTo = (handler: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown>) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const auth = yield* HttpAuth.HttpAuth
    const response = yield* auth.respond(handler).pipe(
      Effect.provide(Logger.layer([Logger.make(({ logLevel }) => logs.push(logLevel))]))
    )
    return { response, body: bodyOf(response), logs }
  }).pipe(Effect.provide(HttpAuthLive))

describe("AuthError.fromCoreError", () => {
  for (const [tag, row] of Object.entries(expected) as Array<[string, Expected]>) {
    it(`${tag} -> ${row.status} ${row.code}`, () => {
      const mapped = AuthError.fromCoreError(row.error)
      assert.strictEqual(mapped.status, row.status)
      assert.strictEqual(mapped.code, row.code)
      if (row.message !== undefined) assert.strictEqual(mapped.message, row.message)
      for (const [name, value] of Object.entries(row.headers ?? {})) assert.strictEqual(mapped.headers?.[name], value)
      assert.isTrue(AuthError.isMappable(row.error))
    })
  }

  it("a store refused by a full database gate is busy (Retry-After from the gate), not down", () => {
    const busy = new Errors.StoreError({
      store: "session",
      operation: "read a session",
      cause: new Admission.Overloaded({ gate: "database", retryAfterSeconds: 1 })
    })
    const mapped = AuthError.fromCoreError(busy)
    assert.strictEqual(mapped.status, 503)
    assert.strictEqual(mapped.code, "service_unavailable")
    assert.deepStrictEqual(mapped.headers, { "retry-after": "1" })
  })

  it("passes a contract error through unchanged", () => {
    assert.strictEqual(AuthError.fromCoreError(passedThrough), passedThrough)
  })

  it("answers 500 naming nothing for a value that slipped past the types", () => {
    const mapped = AuthError.fromCoreError(new AppError({ message: "secret detail" }) as never)
    assert.strictEqual(mapped.status, 500)
    assert.strictEqual(mapped.code, "internal_error")
    assert.notInclude(mapped.message, "secret")
  })

  it("isMappable refuses anything else", () => {
    const others: ReadonlyArray<unknown> = [
      new AppError({ message: "mine" }),
      new KeyringStore.KeyringError({ reason: "Malformed" }),
      { _tag: "StoreError" },
      { _tag: "StoreError", message: 42 },
      { _tag: 1, message: "x" },
      "StoreError",
      null,
      undefined,
      new Error("boom")
    ]
    for (const other of others) assert.isFalse(AuthError.isMappable(other))
  })
})

describe("HttpAuth.respond", () => {
  it.effect("a core error goes through the mapping (an outage: 503, one warning line)", () =>
    Effect.gen(function*() {
      const { body, logs, response } = yield* respondTo(
        Effect.fail(new Errors.StoreError({ store: "session", operation: "read", cause: new Error("down") }))
      )
      assert.strictEqual(response.status, 503)
      assert.strictEqual(body.error.code, "service_unavailable")
      assert.strictEqual(response.headers["retry-after"], "5")
      assert.deepStrictEqual(logs, ["Warn"])
    }))

  it.effect("a client error is answered and not logged", () =>
    Effect.gen(function*() {
      const { body, logs, response } = yield* respondTo(Effect.fail(new SessionCredentialService.ExpiredSessionToken()))
      assert.strictEqual(response.status, 401)
      assert.strictEqual(body.error.code, "expired_credential")
      assert.deepStrictEqual(logs, [])
    }))

  it.effect("an unknown failure or a defect is a 500 that names nothing, logged as an error", () =>
    Effect.gen(function*() {
      for (
        const handler of [
          Effect.fail(new AppError({ message: "secret detail" })),
          Effect.fail("a string"),
          Effect.die(new Error("secret defect"))
        ]
      ) {
        const { body, logs, response } = yield* respondTo(handler)
        assert.strictEqual(response.status, 500)
        assert.deepStrictEqual(body, { error: { code: "internal_error", message: "Something went wrong" } })
        assert.deepStrictEqual(logs, ["Error"])
      }
    }))
})

describe("HttpAuth.countFailures", () => {
  const fromAddress = HttpServerRequest.fromWeb(new Request("http://127.0.0.1/api/auth/bootstrap"))

  /** What `countFailures` answers for `error`, and whether the limiter recorded a failure. */
  const count = (error: AuthError.Mappable) =>
    Effect.gen(function*() {
      const auth = yield* HttpAuth.HttpAuth
      const limiter = yield* RateLimiter.RateLimiter
      const mapped = yield* auth.countFailures(Effect.fail(error)).pipe(
        Effect.flip,
        Effect.provideService(HttpServerRequest.HttpServerRequest, fromAddress)
      )
      return { mapped, counted: limiter.size() > 0 }
    }).pipe(Effect.provide(HttpAuthLive))

  it.effect("a refused credential (401) counts against the address; a missing one does not", () =>
    Effect.gen(function*() {
      for (const [tag, row] of Object.entries(expected) as Array<[string, Expected]>) {
        const { counted, mapped } = yield* count(row.error)
        assert.strictEqual(mapped.code, row.code, tag)
        assert.strictEqual(counted, row.status === 401 && row.code !== "missing_credential", tag)
      }
    }))

  it.effect("over budget, a refused credential is answered 429", () =>
    Effect.gen(function*() {
      const auth = yield* HttpAuth.HttpAuth
      const refused = auth.countFailures(Effect.fail(new BootstrapCredentialService.UnknownCredential())).pipe(
        Effect.flip,
        Effect.provideService(HttpServerRequest.HttpServerRequest, fromAddress)
      )
      const codes: Array<string> = []
      for (let i = 0; i < 11; i++) codes.push((yield* refused).code)
      assert.deepStrictEqual(codes, [...Array(10).fill("invalid_credential"), "rate_limited"])
    }).pipe(Effect.provide(HttpAuthLive)))
})
