/**
 * The reference MCP endpoint: `effect/ai`'s `McpServer` over Streamable HTTP at `/mcp`, behind
 * `McpGuard` (an agent's per-thread bearer credential from `POST /api/auth/mcp-credentials`), with
 * two tools:
 *
 * - `whoami`: the thread id, provider instance and capabilities of the calling credential;
 * - `echo`: returns its `text` with the calling thread, `{ threadId, text }`.
 *
 * Both read the credential as the `McpGuard.CurrentMcpPrincipal` service: how an application's
 * own tools scope what they do to the calling thread.
 */
import { McpGuard, McpServerRoutes } from "@gatehouse-auth/http"
import { Effect, Layer, Schema } from "effect"
import { McpServer, Tool, Toolkit } from "effect/ai"

export const path = "/mcp"

export const WhoAmI = Tool.make("whoami", {
  description: "The agent thread this credential speaks for: thread id, provider instance, capabilities",
  success: Schema.Struct({
    threadId: Schema.String,
    providerInstanceId: Schema.String,
    capabilities: Schema.Array(Schema.String)
  }),
  dependencies: [McpGuard.CurrentMcpPrincipal]
})

export const Echo = Tool.make("echo", {
  description: "Echoes the text back with the calling thread",
  parameters: Schema.Struct({ text: Schema.String.check(Schema.isMaxLength(10_000)) }),
  success: Schema.Struct({ threadId: Schema.String, text: Schema.String }),
  dependencies: [McpGuard.CurrentMcpPrincipal]
})

export const Tools = Toolkit.make(WhoAmI, Echo)

export const ToolHandlers = Tools.toLayer({
  whoami: () =>
    Effect.map(Effect.service(McpGuard.CurrentMcpPrincipal), (principal) => ({
      threadId: principal.threadId,
      providerInstanceId: principal.providerInstanceId,
      capabilities: [...principal.capabilities]
    })),
  echo: ({ text }) => Effect.map(Effect.service(McpGuard.CurrentMcpPrincipal), ({ threadId }) => ({ threadId, text }))
})

export const layer = McpServerRoutes.layer({
  name: "gatehouse",
  version: "0.1.0",
  path,
  registrations: McpServer.toolkit(Tools).pipe(Layer.provide(ToolHandlers))
})
