/**
 * A benchmark server's listener and policy: Node's HTTP server on a free loopback port, and the
 * loopback policy for the port it was given.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import * as Http from "node:http"
import * as ServerAuthPolicy from "../packages/core/src/ServerAuthPolicy.ts"

export const listener = NodeHttpServer.layer(() => Http.createServer(), { host: "127.0.0.1", port: 0 })

export const policy = Layer.unwrap(
  Effect.map(Effect.service(HttpServer.HttpServer), (server) =>
    ServerAuthPolicy.layer({
      host: "127.0.0.1",
      port: server.address._tag === "UnixPathAddress" ? 0 : server.address.port
    }))
)
