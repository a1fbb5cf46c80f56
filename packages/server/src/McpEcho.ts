/**
 * The reference MCP-style endpoint: `POST /mcp` behind `McpGuard` (an agent's per-thread bearer
 * credential from `POST /api/auth/mcp-credentials`). It echoes the JSON body with the thread the
 * credential speaks for: `{ "threadId": ..., "body": ... }`.
 */
import { HttpAuthSettings, JsonBody, McpGuard } from "@gatehouse-auth/http"
import { Effect, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"

export const path = "/mcp"

export const layer = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const guard = yield* McpGuard.McpGuard
  const settings = yield* HttpAuthSettings.HttpAuthSettings
  yield* router.add(
    "POST",
    path,
    guard.serve(Effect.gen(function*() {
      const { threadId } = yield* McpGuard.CurrentMcpPrincipal
      const body = yield* JsonBody.read(Schema.Unknown, {
        maxBytes: settings.maxBodyBytes,
        maxDepth: settings.maxJsonDepth,
        expected: "any JSON value"
      })
      return HttpServerResponse.jsonUnsafe({ threadId, body }, { headers: { "cache-control": "no-store" } })
    }))
  )
}))
