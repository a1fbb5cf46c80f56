/**
 * `npm start`: the notes app on http://127.0.0.1:3000 (`PORT`), state in `.gatehouse-notes`
 * (`STATE_DIR`). It prints a one-use pairing URL; open it to pair this browser.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { GatehouseServer } from "@gatehouse-auth/server"
import { Cause, Config, Console, Effect, Exit, Layer, Redacted, Runtime } from "effect"
import { App } from "./App.ts"

const main = Effect.gen(function*() {
  const port = yield* Config.Port("PORT").pipe(Config.withDefault(3000))
  const stateDir = yield* Config.String("STATE_DIR").pipe(Config.withDefault(".gatehouse-notes"))
  const context = yield* Layer.build(App({ port, stateDir }))
  const { info, serverAuth } = GatehouseServer.services(context)
  const pairing = yield* serverAuth.issueStartupPairingUrl(info.baseUrl)
  yield* Console.log(`Notes is listening on ${info.baseUrl}`)
  yield* Console.log(`Pair this browser (once): ${Redacted.value(pairing.url)}`)
  return yield* Effect.never
})

// Ctrl+C or SIGTERM interrupts `main`: the scope closes (the server stops, state is released) and
// the process exits 0, not the 130 of an interrupted program.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

main.pipe(Effect.scoped, Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
