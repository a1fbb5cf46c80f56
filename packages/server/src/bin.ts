#!/usr/bin/env node
/**
 * The `gatehouse` executable. A desktop shell launches THIS file directly (not through npm: npm
 * neither hands descriptors above 2 to its scripts nor forwards SIGTERM).
 *
 * SIGINT / SIGTERM interrupt the program; its scopes close (the server stops accepting, open
 * connections are closed) and the process exits 0.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Runtime } from "effect"

// Node 22 announces `node:sqlite` (the embedded store) as experimental on every start; that line
// says nothing a user can act on. Every other warning still prints. Installed before the CLI is
// loaded, since loading it loads `node:sqlite`.
const emitWarning = process.emitWarning
process.emitWarning = function(this: NodeJS.Process, warning: string | Error, ...rest: Array<any>) {
  const text = typeof warning === "string" ? warning : warning.message
  if (/^SQLite is an experimental feature/.test(text)) return
  return (emitWarning as (...args: Array<any>) => void).call(this, warning, ...rest)
} as typeof process.emitWarning

const Cli = await import("./Cli.ts")

/** A stop asked for by a signal is a clean exit, not the 130 of an interrupted program. */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

Cli.run.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
