/**
 * Gatehouse's reference stack for bench/peer.ts: built the same way by its server process
 * (bench/peerServer.ts, which loads it only for that server, so that each server's RSS is its own)
 * and by its in-process part.
 */
import { NodeServices } from "@effect/platform-node"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as Crypto from "node:crypto"
import * as SessionCredentialService from "../packages/core/src/SessionCredentialService.ts"
import { HttpAuth } from "../packages/http/src/index.ts"
import * as GatehouseServer from "../packages/server/src/GatehouseServer.ts"
import { applicationScopes, path } from "./peerShared.ts"

/** A token of the right shape whose signature is not ours. */
const forged = (token: string) => {
  const dot = token.lastIndexOf(".")
  return `${token.slice(0, dot + 1)}${Crypto.randomBytes(32).toString("base64url")}`
}

const hello = HttpServerResponse.jsonUnsafe({ hello: "owner" })

const scope = Effect.runSync(Scope.make())

/**
 * The reference stack around the bench route, listening on 127.0.0.1 (also used in-process by
 * bench/peer.ts), with a valid session and a revoked one.
 */
export const gatehouseInstance = async (stateDir: string) => {
  const routes = HttpRouter.use(Effect.fnUntraced(function*(router) {
    const auth = yield* HttpAuth.HttpAuth
    yield* router.add("GET", path, auth.requireScopes(["read:hello"])(Effect.succeed(hello)))
  }))
  const layer = routes.pipe(
    GatehouseServer.serve({ host: "127.0.0.1", port: 0, stateDir, applicationScopes }),
    Layer.provide(NodeServices.layer)
  )
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const { port } = Context.get(context, GatehouseServer.GatehouseServer)
  const sessions = Context.get(context, SessionCredentialService.SessionCredentialService)
  const issue = () =>
    Effect.runPromise(sessions.issue({ subject: "owner", scopes: applicationScopes, method: "pairing" }))
  const valid = Redacted.value((await issue()).token)
  const gone = await issue()
  await Effect.runPromise(sessions.revoke(gone.session.sid))
  return {
    port,
    httpAuth: Context.get(context, HttpAuth.HttpAuth),
    sessions,
    valid,
    revoked: Redacted.value(gone.token),
    bad: forged(valid),
    cookieName: `gatehouse_session_${port}`,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const gatehouseConfiguration =
  "GatehouseServer.serve as shipped: SQLite stores (a fresh state directory, secrets generated there for this " +
  "run), rate limiter, Host guard, Origin checks, deny by default; the route guarded by " +
  "requireScopes([\"read:hello\"]); the session issued by SessionCredentialService, presented as the " +
  "gatehouse_session_<port> cookie or as Authorization: Bearer"
