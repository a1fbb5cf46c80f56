/**
 * MCP credential resolution with 100k live credentials, side by side in one run:
 * - `mcp.resolve`: McpSessionRegistry.resolve inside one fiber (as an HTTP guard runs it), over
 *   the 100k tokens in turn, so lookups miss the CPU cache as a busy server's would;
 * - `raw SHA-256 + Map`: node:crypto one-shot SHA-256 (`crypto.hash`, base64url) of the same tokens and a `Map` lookup,
 *   the floor any hash-only registry pays.
 * Target: resolve >= 0.5x raw. Also reported: heap bytes per live credential (registry and a bare
 * `Map` of hash -> principal), measured as the heapUsed delta after gc.
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as Crypto from "node:crypto"
import * as Mcp from "../packages/core/src/McpSessionRegistry.ts"
import { compare, ratio, report } from "./harness.ts"

const liveCredentials = 100_000

const collectGarbage = (): void => (globalThis as { gc?: () => void }).gc?.()

const heapAfterGc = () => {
  collectGarbage()
  collectGarbage()
  return process.memoryUsage().heapUsed
}

/** A registry whose scope stays open (closing it revokes every credential). */
const openRegistry = async () => {
  const scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(Mcp.layer({ endpoint: { host: "127.0.0.1", port: 3773 } }), scope)
  )
  return {
    registry: Context.get(context, Mcp.McpSessionRegistry),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const issueAll = (registry: Mcp.McpSessionRegistryShape, keep: (token: string) => void) =>
  Effect.runSync(Effect.gen(function*() {
    for (let i = 0; i < liveCredentials; i++) {
      const issued = yield* registry.issue({ threadId: `thread-${i}`, providerInstanceId: `provider-${i % 16}` })
      keep(Redacted.value(issued.authorizationHeader).slice("Bearer ".length))
    }
  }))

/** Heap bytes per live credential: the registry's, and a bare Map's of hash -> principal. */
const measureMemory = async () => {
  const before = heapAfterGc()
  const { close, registry } = await openRegistry()
  issueAll(registry, () => {})
  const registryBytes = (heapAfterGc() - before) / liveCredentials
  await close()

  const baseline = heapAfterGc()
  const map = new Map<string, { threadId: string; providerInstanceId: string }>()
  for (let i = 0; i < liveCredentials; i++) {
    const hash = Crypto.hash("sha256", Crypto.randomBytes(32).toString("base64url"), "base64url")
    map.set(hash, { threadId: `thread-${i}`, providerInstanceId: `provider-${i % 16}` })
  }
  const mapBytes = (heapAfterGc() - baseline) / liveCredentials
  if (map.size !== liveCredentials) throw new Error("lost entries")
  return { registryBytesPerCredential: Math.round(registryBytes), rawMapBytesPerCredential: Math.round(mapBytes) }
}

export const run = async () => {
  const memory = await measureMemory()

  const { close, registry } = await openRegistry()
  const tokens: Array<string> = []
  issueAll(registry, (token) => tokens.push(token))
  const raw = new Map(tokens.map((token, i) => [
    Crypto.hash("sha256", token, "base64url"),
    { threadId: `thread-${i}`, providerInstanceId: `provider-${i % 16}` }
  ]))

  let next = 0
  const resolveLoop = (iterations: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < iterations; i++) {
        const resolved = yield* registry.resolve(tokens[next]!)
        if (resolved._tag === "None") throw new Error("a live credential did not resolve")
        next = next + 1 === liveCredentials ? 0 : next + 1
      }
    })

  const results = await compare([
    { name: "mcp.resolve", run: (n) => Effect.runSync(resolveLoop(n)) },
    {
      name: "raw SHA-256 + Map",
      run: (n) => {
        for (let i = 0; i < n; i++) {
          const found = raw.get(Crypto.hash("sha256", tokens[next]!, "base64url"))
          if (found === undefined) throw new Error("a live credential did not resolve")
          next = next + 1 === liveCredentials ? 0 : next + 1
        }
      }
    }
  ])
  const live = Effect.runSync(registry.count)
  await close()
  report("mcpResolve", results, [
    ratio(results, "mcp.resolve / raw SHA-256 + Map", "mcp.resolve", "raw SHA-256 + Map", 0.5)
  ], { liveCredentials: live, ...memory })
  console.log(
    `heap per live credential: registry ${memory.registryBytesPerCredential} B, ` +
      `bare Map of hash -> principal ${memory.rawMapBytesPerCredential} B`
  )
}
