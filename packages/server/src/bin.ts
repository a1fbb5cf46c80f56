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
import * as Cli from "./Cli.ts"

/** A stop asked for by a signal is a clean exit, not the 130 of an interrupted program. */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

Cli.run.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
