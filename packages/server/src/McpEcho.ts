/**
 * The reference MCP endpoint: `effect/ai`'s `McpServer` over Streamable HTTP at `/mcp`, behind
 * `McpGuard` (an agent's per-thread bearer credential from `POST /api/auth/mcp-credentials`), with
 * two tools:
 *
 * - `whoami`: the thread id, provider instance and capabilities of the calling credential, and
 *   `via`: `credential` (a per-thread credential) or `oauth` (an OAuth client's access token,
 *   then with the client's id and name and the approving subject);
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
    capabilities: Schema.Array(Schema.String),
    via: Schema.Literals(["credential", "oauth"]),
    client: Schema.optional(
      Schema.Struct({ clientId: Schema.String, clientName: Schema.String, subject: Schema.String })
    )
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
      capabilities: [...principal.capabilities],
      via: principal.oauth === undefined ? "credential" as const : "oauth" as const,
      ...(principal.oauth === undefined ? {} : {
        client: {
          clientId: principal.oauth.clientId,
          clientName: principal.oauth.clientName,
          subject: principal.oauth.subject
        }
      })
    })),
  echo: ({ text }) => Effect.map(Effect.service(McpGuard.CurrentMcpPrincipal), ({ threadId }) => ({ threadId, text }))
})

export const layer = McpServerRoutes.layer({
  name: "gatehouse",
  version: "0.1.0",
  path,
  registrations: McpServer.toolkit(Tools).pipe(Layer.provide(ToolHandlers))
})
