/**
 * A shutdown signal for long-lived handlers. On SIGINT/SIGTERM the HTTP server stops accepting and
 * waits (up to its grace period) for open connections to end; an open WebSocket never ends by
 * itself, so its handler listens here and closes with 1001 ("going away") as soon as shutdown
 * begins. `gatehouse serve` begins it when interrupted, before the server's scope closes.
 */
import { Context, Deferred, Effect, Layer } from "effect"

export interface ShutdownShape {
  /** Begins shutdown (idempotent). */
  readonly begin: Effect.Effect<void>
  /** Completes once shutdown has begun. */
  readonly begun: Effect.Effect<void>
}

export class Shutdown extends Context.Service<Shutdown, ShutdownShape>()("@gatehouse-auth/server/Shutdown") {}

export const goingAwayCloseCode = 1001

export const make = Effect.map(Deferred.make<void>(), (signal) =>
  Shutdown.of({
    begin: Effect.asVoid(Deferred.succeed(signal, undefined)),
    begun: Deferred.await(signal)
  }))

export const layer = Layer.effect(Shutdown, make)
