/**
 * The server: the API's handlers, served by `HttpAuthLayer` with the Gatehouse core in memory
 * (`@gatehouse-auth/sql` has SQLite and PostgreSQL stores for sessions that survive a restart).
 */
import { NodeHttpServer } from "@effect/platform-node"
import {
  BootstrapCredentialService,
  Crockford,
  ServerAuth,
  ServerAuthPolicy,
  ServerSecretStore,
  SessionCredentialService,
  SigningKeyring
} from "@gatehouse-auth/core"
import { AuthOpenApi, HttpApiAuth, HttpAuth, HttpAuthLayer } from "@gatehouse-auth/http"
import { Effect, Layer, Redacted, Ref } from "effect"
import { HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import * as Http from "node:http"
import { Api, type Note } from "./Api.ts"

export const applicationScopes = ["read:notes", "write:notes"]

const NotesHandlers = HttpApiBuilder.group(
  Api,
  "notes",
  Effect.fnUntraced(function*(handlers) {
    const notes = yield* Ref.make<ReadonlyArray<Note>>([])
    return handlers.handleAll({
      health: () => Effect.succeed({ ok: true as const }),
      list: () => Ref.get(notes),
      create: Effect.fnUntraced(function*({ payload }) {
        // The Authentication middleware provides the caller's session.
        const { session } = yield* HttpAuth.CurrentSession
        return yield* Ref.modify(notes, (all): [Note, ReadonlyArray<Note>] => {
          const note = { id: all.length + 1, text: payload.text, author: session.subject }
          return [note, [...all, note]]
        })
      })
    })
  })
)

// The API's routes, and its OpenAPI document with the /api/auth/* routes added (public).
const Routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api).pipe(Layer.provide(NotesHandlers), Layer.provide(HttpApiAuth.layer)),
  AuthOpenApi.layer(Api, { path: "/openapi.json" })
)

// The policy names the session cookie after the port, so it is built from the port the server
// bound (port 0 in the tests).
const Policy = Layer.unwrap(
  Effect.map(
    Effect.service(HttpServer.HttpServer),
    ({ address }) =>
      ServerAuthPolicy.layer({ host: "127.0.0.1", port: address._tag === "UnixPathAddress" ? 0 : address.port })
  )
)

const Core = ServerAuth.layer({ applicationScopes }).pipe(
  Layer.provideMerge(
    BootstrapCredentialService.layerMemory.pipe(Layer.provideMerge(SessionCredentialService.layerMemory()))
  ),
  Layer.provideMerge(SigningKeyring.layer()),
  Layer.provideMerge(ServerSecretStore.layerMemory()),
  Layer.provideMerge(Policy)
)

/** The whole server on 127.0.0.1:`port`; its `HttpServer` and core services stay readable. */
export const layer = (options: { readonly port: number }) =>
  Routes.pipe(
    // Deny by default covers the API's routes too: the endpoints without `requireScopes` that are
    // public on purpose are named here, so one added later without security answers 401.
    HttpAuthLayer.layer({
      applicationScopes,
      denyByDefault: true,
      publicRoutes: ["GET /api/health", "GET /openapi.json"]
    }),
    Layer.provideMerge(Core),
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: options.port, host: "127.0.0.1" }))
  )

/** A fresh pairing code (both scopes, one use, 15 minutes) and how to use it. */
export const pairingInstructions = Effect.gen(function*() {
  const grants = yield* BootstrapCredentialService.BootstrapCredentialService
  const origin = HttpServer.formatAddress((yield* HttpServer.HttpServer).address)
  const issued = yield* grants.issue({ subject: "owner", scopes: applicationScopes, ttl: "15 minutes" })
  const code = Crockford.format(Redacted.value(issued.credential))
  return [
    `Pairing code: ${code} (one use, 15 minutes). Exchange it for a bearer token:`,
    `  curl -s -X POST ${origin}/api/auth/bootstrap/bearer -H 'content-type: application/json' \\`,
    `    -d '{"credential": "${code}"}'`,
    `Then call the API with it (the public ${origin}/api/health needs nothing):`,
    `  curl -s ${origin}/api/notes -H 'authorization: Bearer <accessToken>'`,
    `  curl -s -X POST ${origin}/api/notes -H 'authorization: Bearer <accessToken>' \\`,
    `    -H 'content-type: application/json' -d '{"text": "hello"}'`,
    `OpenAPI document: ${origin}/openapi.json`
  ].join("\n")
})
