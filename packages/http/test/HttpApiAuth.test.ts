/**
 * `HttpApiAuth` and `AuthOpenApi` over loopback: an `effect/http-api` API served by
 * `HttpAuthLayer.layer` with memory stores, called with raw HTTP (and with a typed client of the
 * Gatehouse routes, which checks that `AuthOpenApi.AuthGroup` describes the routes as served).
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import {
  BootstrapCredentialService,
  DpopReplayStore,
  DpopVerifier,
  Hashing,
  ServerAuth,
  ServerAuthPolicy,
  ServerSecretStore,
  SessionCredentialService,
  SigningKeyring
} from "@gatehouse-auth/core"
import { bearer, cookiePair, freePort, postJson, request } from "@gatehouse-auth/testing/support"
import { Clock, Context, Effect, Layer, Redacted, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiClient, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import * as Jose from "jose"
import * as Http from "node:http"
import { AuthOpenApi, HttpApiAuth, HttpAuth, HttpAuthLayer } from "../src/index.ts"

class NoteRejected extends Schema.TaggedError<NoteRejected>()("NoteRejected", { reason: Schema.String }, {
  httpApiStatus: 422
}) {}

class Notes extends HttpApiGroup.make("notes").add(
  HttpApiEndpoint.get("status", "/api/status", { success: Schema.Struct({ ok: Schema.Boolean }) }),
  HttpApiEndpoint.get("list", "/api/notes", { success: Schema.Array(Schema.String) })
    .pipe(HttpApiAuth.requireScopes("read:notes")),
  HttpApiEndpoint.post("create", "/api/notes", {
    payload: Schema.Struct({ text: Schema.String }),
    success: Schema.Array(Schema.String),
    error: NoteRejected
  }).pipe(HttpApiAuth.requireScopes("read:notes"), HttpApiAuth.requireScopes("write:notes")),
  HttpApiEndpoint.get("me", "/api/me", { success: Schema.Struct({ subject: Schema.String, via: Schema.String }) })
    .pipe(HttpApiAuth.requireScopes())
) {}

class Api extends HttpApi.make("notes-test").add(Notes) {}

const NotesHandlers = HttpApiBuilder.group(Api, "notes", (handlers) => {
  const notes: Array<string> = []
  return handlers.handleAll({
    status: () => Effect.succeed({ ok: true }),
    list: () => Effect.succeed(notes),
    create: ({ payload }) =>
      payload.text.length === 0
        ? Effect.fail(new NoteRejected({ reason: "empty" }))
        : Effect.sync(() => {
          notes.push(payload.text)
          return notes
        }),
    me: () => Effect.map(HttpAuth.CurrentSession, ({ session, via }) => ({ subject: session.subject, via }))
  })
})

const Routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api).pipe(Layer.provide(NotesHandlers), Layer.provide(HttpApiAuth.layer)),
  AuthOpenApi.layer(Api, { path: "/openapi.json" })
)

const startServerWith = (options: { readonly dpop?: boolean }) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const core = ServerAuth.layer({ applicationScopes: ["read:notes", "write:notes"] }).pipe(
      Layer.provideMerge(
        BootstrapCredentialService.layerMemory.pipe(Layer.provideMerge(SessionCredentialService.layerMemory()))
      ),
      Layer.provideMerge(
        options.dpop === true
          ? DpopVerifier.layer().pipe(Layer.provide(DpopReplayStore.layerMemory))
          : Layer.empty
      ),
      Layer.provideMerge(SigningKeyring.layer()),
      Layer.provideMerge(ServerSecretStore.layerMemory()),
      Layer.provideMerge(ServerAuthPolicy.layer({ host: "127.0.0.1", port }))
    )
    const server = Routes.pipe(
      HttpAuthLayer.layer({
        applicationScopes: ["read:notes", "write:notes"],
        rateLimit: { capacity: 2 },
        disableListenLog: true
      }),
      Layer.provideMerge(core),
      Layer.provide(NodeHttpServer.layer(() => Http.createServer(), { port, host: "127.0.0.1" }))
    )
    const context = yield* Layer.build(server)
    const sessions = Context.get(context, SessionCredentialService.SessionCredentialService)
    const grants = Context.get(context, BootstrapCredentialService.BootstrapCredentialService)
    const session = (scopes: ReadonlyArray<string>, jkt?: string) =>
      Effect.map(
        sessions.issue({ subject: "owner", scopes, method: "pairing", transport: "bearer", jkt }),
        ({ token }) => Redacted.value(token)
      )
    return { port, grants, session }
  })

const startServer = startServerWith({})

describe("HttpApiAuth", () => {
  it.effect("a DPoP-bound session: as Bearer 401 with a DPoP challenge; with its proof 200 and the next DPoP-Nonce", () =>
    Effect.gen(function*() {
      const { port, session } = yield* startServerWith({ dpop: true })
      const { privateKey, publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256"))
      const jwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
      const jkt = yield* Effect.promise(() => Jose.calculateJwkThumbprint(jwk, "sha256"))
      const token = yield* session(["read:notes"], jkt)
      const proof = (nonce?: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.promise(() =>
            new Jose.SignJWT({
              htm: "GET",
              htu: `http://127.0.0.1:${port}/api/me`,
              jti: Hashing.randomId(16),
              iat: Math.floor(now / 1000),
              ath: Hashing.sha256Base64Url(token),
              ...(nonce === undefined ? {} : { nonce })
            }).setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk }).sign(privateKey)
          ))
      const asBearer = yield* request(port, { path: "/api/me", headers: bearer(token) })
      assert.strictEqual(asBearer.status, 401, asBearer.text)
      assert.match(String(asBearer.headers["www-authenticate"]), /DPoP error="invalid_token", algs="/)
      const first = yield* request(port, {
        path: "/api/me",
        headers: { authorization: `DPoP ${token}`, dpop: yield* proof() }
      })
      assert.strictEqual(first.status, 401, first.text)
      const nonce = first.headers["dpop-nonce"] as string
      const ok = yield* request(port, {
        path: "/api/me",
        headers: { authorization: `DPoP ${token}`, dpop: yield* proof(nonce) }
      })
      assert.strictEqual(ok.status, 200, ok.text)
      assert.deepStrictEqual(ok.json, { subject: "owner", via: "bearer" })
      assert.isString(ok.headers["dpop-nonce"])
    }))

  it.effect("a public endpoint answers without a credential", () =>
    Effect.gen(function*() {
      const { port } = yield* startServer
      const response = yield* request(port, { path: "/api/status" })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(response.json, { ok: true })
    }))

  it.effect("401 in the contract's shape without a credential, or with a bad one", () =>
    Effect.gen(function*() {
      const { port } = yield* startServer
      const missing = yield* request(port, { path: "/api/notes" })
      assert.strictEqual(missing.status, 401)
      assert.deepStrictEqual(missing.json, {
        error: { code: "missing_credential", message: "Authentication is required" }
      })
      assert.strictEqual(missing.headers["www-authenticate"], "Bearer")
      assert.strictEqual(missing.headers["cache-control"], "no-store")

      const invalid = yield* request(port, { path: "/api/me", headers: bearer("not-a-token") })
      assert.strictEqual(invalid.status, 401)
      assert.strictEqual(invalid.json.error.code, "invalid_credential")
      assert.include(invalid.headers["www-authenticate"], `error="invalid_token"`)
    }))

  it.effect("403 insufficient_scope naming the scope the session lacks", () =>
    Effect.gen(function*() {
      const { port, session } = yield* startServer
      const reader = yield* session(["read:notes"])
      const response = yield* postJson(port, "/api/notes", { text: "hi" }, bearer(reader))
      assert.strictEqual(response.status, 403)
      assert.strictEqual(response.json.error.code, "insufficient_scope")
      assert.include(response.json.error.message, "write:notes")
      assert.notInclude(response.json.error.message, "read:notes")
      assert.strictEqual(response.headers["www-authenticate"], `Bearer error="insufficient_scope", scope="write:notes"`)
    }))

  it.effect("200 with a bearer token and with the session cookie; the handler reads CurrentSession", () =>
    Effect.gen(function*() {
      const { port, session } = yield* startServer
      const writer = yield* session(["read:notes", "write:notes"])

      const created = yield* postJson(port, "/api/notes", { text: "first" }, bearer(writer))
      assert.strictEqual(created.status, 200)
      assert.deepStrictEqual(created.json, ["first"])
      const viaBearer = yield* request(port, { path: "/api/me", headers: bearer(writer) })
      assert.deepStrictEqual(viaBearer.json, { subject: "owner", via: "bearer" })

      const cookie = { cookie: `gatehouse_session_${port}=${writer}` }
      const listed = yield* request(port, { path: "/api/notes", headers: cookie })
      assert.strictEqual(listed.status, 200)
      assert.deepStrictEqual(listed.json, ["first"])
      const viaCookie = yield* request(port, { path: "/api/me", headers: cookie })
      assert.deepStrictEqual(viaCookie.json, { subject: "owner", via: "cookie" })
    }))

  it.effect("HttpAuth's checks apply: the Origin of cookie requests, and one failure counted per request", () =>
    Effect.gen(function*() {
      const { port, session } = yield* startServer
      const writer = yield* session(["read:notes", "write:notes"])
      const foreign = yield* postJson(port, "/api/notes", { text: "csrf" }, {
        cookie: `gatehouse_session_${port}=${writer}`,
        origin: "https://evil.example"
      })
      assert.strictEqual(foreign.status, 403)
      assert.strictEqual(foreign.json.error.code, "origin_not_allowed")

      // A bucket of 2: were a refused credential counted once per security scheme, the second
      // request would already be 429.
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) {
        statuses.push((yield* request(port, { path: "/api/notes", headers: bearer("bad") })).status)
      }
      assert.deepStrictEqual(statuses, [401, 401, 429])
    }))

  it.effect("the handler's own typed errors pass through the middleware", () =>
    Effect.gen(function*() {
      const { port, session } = yield* startServer
      const writer = yield* session(["read:notes", "write:notes"])
      const rejected = yield* postJson(port, "/api/notes", { text: "" }, bearer(writer))
      assert.strictEqual(rejected.status, 422)
      assert.deepStrictEqual(rejected.json, { _tag: "NoteRejected", reason: "empty" })
    }))

  it("requireScopes refuses what is not a scope", () => {
    assert.throws(() => HttpApiAuth.requireScopes("read-notes"), /not a scope: read-notes/)
  })
})

describe("AuthOpenApi", () => {
  it.effect("the document has the app's endpoints, their security and scopes, and the /api/auth/* routes", () =>
    Effect.gen(function*() {
      const { port } = yield* startServer
      const response = yield* request(port, { path: "/openapi.json" })
      assert.strictEqual(response.status, 200)
      const spec = response.json

      assert.deepStrictEqual(spec.components.securitySchemes.gatehouseCookie, {
        type: "apiKey",
        in: "cookie",
        name: `gatehouse_session_${port}`,
        description: spec.components.securitySchemes.gatehouseCookie.description
      })
      assert.strictEqual(spec.components.securitySchemes.gatehouseBearer.type, "http")
      assert.strictEqual(spec.components.securitySchemes.gatehouseBearer.scheme, "Bearer")

      assert.deepStrictEqual(spec.paths["/api/status"].get.security, [])
      assert.deepStrictEqual(spec.paths["/api/notes"].get.security, [
        { gatehouseCookie: ["read:notes"] },
        { gatehouseBearer: ["read:notes"] }
      ])
      assert.deepStrictEqual(spec.paths["/api/notes"].post.security, [
        { gatehouseCookie: ["read:notes", "write:notes"] },
        { gatehouseBearer: ["read:notes", "write:notes"] }
      ])
      assert.deepStrictEqual(spec.paths["/api/me"].get.security, [{ gatehouseCookie: [] }, { gatehouseBearer: [] }])
      for (const status of ["401", "403", "429", "503"]) {
        assert.property(spec.paths["/api/notes"].get.responses, status)
      }
      assert.property(spec.paths["/api/notes"].post.responses, "422")

      for (
        const path of [
          "/api/auth/session",
          "/api/auth/bootstrap",
          "/api/auth/bootstrap/bearer",
          "/api/auth/logout",
          "/api/auth/ws-ticket",
          "/api/auth/sessions",
          "/api/auth/sessions/{id}",
          "/api/auth/sessions/revoke-others",
          "/api/auth/pairing-links",
          "/api/auth/pairing-links/{id}"
        ]
      ) {
        assert.property(spec.paths, path)
      }
      assert.notProperty(spec.paths, "/api/auth/mcp-credentials")
      assert.deepStrictEqual(spec.paths["/api/auth/sessions"].get.security, [
        { gatehouseCookie: ["read:access"] },
        { gatehouseBearer: ["read:access"] }
      ])
      assert.deepStrictEqual(spec.paths["/api/auth/session"].get.security, [])
    }))

  it("fromApi documents the local-proof routes on request only", () => {
    assert.notProperty(AuthOpenApi.fromApi(Api).paths, "/api/auth/local-proof")
    const spec = AuthOpenApi.fromApi(Api, { localProof: true })
    assert.property(spec.paths, "/api/auth/local-proof/challenge")
    assert.property(spec.paths, "/api/auth/local-proof")
    assert.deepStrictEqual(spec.paths["/api/auth/local-proof"]?.post?.security ?? [], [])
  })

  it("fromApi documents the MCP route on request, and names the cookie given", () => {
    const spec = AuthOpenApi.fromApi(Api, { mcp: true, cookieName: "__Host-gatehouse_session" })
    assert.property(spec.paths, "/api/auth/mcp-credentials")
    const scheme = spec.components.securitySchemes["gatehouseCookie"]
    assert.strictEqual(scheme?.type === "apiKey" ? scheme.name : undefined, "__Host-gatehouse_session")
  })

  it.effect("AuthGroup describes the live routes: every endpoint is served, and a typed client decodes them", () =>
    Effect.gen(function*() {
      const { grants, port } = yield* startServer
      for (const endpoint of Object.values(AuthOpenApi.AuthGroup.endpoints)) {
        const response = yield* request(port, { method: endpoint.method, path: endpoint.path.replace(":id", "x") })
        assert.notStrictEqual(response.json?.error?.code, "not_found", `${endpoint.method} ${endpoint.path}`)
      }

      const client = yield* HttpApiClient.make(AuthOpenApi.Api, { baseUrl: `http://127.0.0.1:${port}` })
      const issued = yield* grants.issue({ subject: "owner", scopes: ["read:notes", "read:access"] })
      const paired = yield* client.gatehouse.bootstrapBearer({
        payload: { credential: Redacted.value(issued.credential), client: { label: "typed client" } }
      })
      assert.strictEqual(paired.tokenType, "Bearer")
      assert.strictEqual(paired.session.client.label, "typed client")

      const authorized = yield* HttpApiClient.make(AuthOpenApi.Api, {
        baseUrl: `http://127.0.0.1:${port}`,
        transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(paired.accessToken))
      })
      const state = yield* authorized.gatehouse.session()
      assert.isTrue(state.authenticated)
      assert.strictEqual(state.auth.sessionCookieName, `gatehouse_session_${port}`)
      const { sessions } = yield* authorized.gatehouse.listSessions()
      assert.strictEqual(sessions.length, 1)

      // A refusal decodes as the declared error class.
      const refused = yield* Effect.flip(authorized.gatehouse.createPairingLink({ payload: {} }))
      assert.instanceOf(refused, HttpApiAuth.Forbidden)
      assert.strictEqual(refused.error.code, "insufficient_scope")

      // The cookie flow through the client: Set-Cookie comes back on the raw response.
      const second = yield* grants.issue({ subject: "owner", scopes: ["read:notes"] })
      const [body, raw] = yield* client.gatehouse.bootstrap({
        payload: { credential: Redacted.value(second.credential) },
        responseMode: "decoded-and-response"
      })
      assert.isTrue(body.authenticated)
      const setCookie = raw.headers["set-cookie"] ?? ""
      assert.match(cookiePair(setCookie), new RegExp(`^gatehouse_session_${port}=`))
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
