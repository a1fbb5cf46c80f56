/**
 * MCP credential resolution with 100k live credentials, side by side in one run:
 * - `mcp.resolve`: McpSessionRegistry.resolve inside one fiber (as an HTTP guard runs it), over
 *   the 100k tokens in turn, so lookups miss the CPU cache as a busy server's would;
 * - `raw SHA-256 + Map`: node:crypto one-shot SHA-256 (`crypto.hash`, base64url) of the same tokens and a `Map` lookup,
 *   the floor any hash-only registry pays.
 * - `mcp.resolve (SQLite)`: `McpSessionRegistry.layerStore` over the SQLite store with the same
 *   100k credentials (one indexed read per resolve; no write, as uses within a minute are not written).
 * Targets: resolve >= 0.7x raw; over SQLite >= 0.25x raw. Also reported: heap bytes per live credential (registry and a bare
 * `Map` of hash -> principal), measured as the heapUsed delta after gc.
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { SqlClient } from "effect/sql"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Ids from "../packages/core/src/Ids.ts"
import * as McpStore from "../packages/core/src/McpCredentialStore.ts"
import * as Mcp from "../packages/core/src/McpSessionRegistry.ts"
import * as Database from "../packages/sql/src/Database.ts"
import * as SqlMcpCredentialStore from "../packages/sql/src/SqlMcpCredentialStore.ts"
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

  // The same credentials in a SQLite store, read through `layerStore`.
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-mcp-"))
  const sqliteScope = await Effect.runPromise(Scope.make())
  const sqliteContext = await Effect.runPromise(Layer.buildWithScope(
    Mcp.layerStore({ endpoint: { host: "127.0.0.1", port: 3773 } }).pipe(
      Layer.provideMerge(SqlMcpCredentialStore.layer()),
      Layer.provideMerge(Database.layerSqlite({ filename: Path.join(directory, "gatehouse.db") }))
    ),
    sqliteScope
  ))
  const sqliteRegistry = Context.get(sqliteContext, Mcp.McpSessionRegistry)
  const store = Context.get(sqliteContext, McpStore.McpCredentialStore)
  const now = Date.now()
  const sql = Context.get(sqliteContext, SqlClient.SqlClient)
  await Effect.runPromise(sql.withTransaction(Effect.forEach(tokens, (token, i) =>
    store.insertReplacingThread({
      id: Ids.newMcpCredentialId(),
      tokenHash: Mcp.hashToken(token),
      threadId: `thread-${i}`,
      providerInstanceId: `provider-${i % 16}`,
      capabilities: [],
      sessionId: undefined,
      createdAt: now,
      absoluteExpiresAt: now + 90 * 86_400_000,
      lastUsedAt: now,
      expiresAt: now + 30 * 86_400_000
    }), { discard: true })))
  // Used just now, as a busy agent's would be: no resolve below writes (a use is written once a minute).
  await Effect.runPromise(sql`UPDATE gatehouse_mcp_credentials SET last_used_at = ${Date.now()}`)
  const sqliteLoop = (iterations: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < iterations; i++) {
        const resolved = yield* sqliteRegistry.resolve(tokens[next]!)
        if (resolved._tag === "None") throw new Error("a live credential did not resolve over SQLite")
        next = next + 1 === liveCredentials ? 0 : next + 1
      }
    })

  const results = await compare([
    { name: "mcp.resolve", run: (n) => Effect.runSync(resolveLoop(n)) },
    { name: "mcp.resolve (SQLite)", run: (n) => Effect.runSync(sqliteLoop(n)) },
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
  await Effect.runPromise(Scope.close(sqliteScope, Exit.void))
  Fs.rmSync(directory, { recursive: true, force: true })
  report("mcpResolve", results, [
    ratio(results, "mcp.resolve / raw SHA-256 + Map", "mcp.resolve", "raw SHA-256 + Map", 0.7),
    ratio(results, "mcp.resolve (SQLite) / raw SHA-256 + Map", "mcp.resolve (SQLite)", "raw SHA-256 + Map", 0.25)
  ], { liveCredentials: live, ...memory })
  console.log(
    `heap per live credential: registry ${memory.registryBytesPerCredential} B, ` +
      `bare Map of hash -> principal ${memory.rawMapBytesPerCredential} B`
  )
}
