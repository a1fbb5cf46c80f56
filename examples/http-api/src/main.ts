/**
 * `npm start -w examples/http-api`: serves the notes API on 127.0.0.1:3773 (or `PORT`) and prints
 * a pairing code.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Effect, Layer } from "effect"
import * as App from "./App.ts"

const Server = Layer.unwrap(
  Effect.map(Config.Port("PORT").pipe(Config.withDefault(3773)), (port) => App.layer({ port }))
)

const Main = Layer.effectDiscard(Effect.flatMap(App.pairingInstructions, Console.log)).pipe(Layer.provide(Server))

Layer.launch(Main).pipe(NodeRuntime.runMain)
