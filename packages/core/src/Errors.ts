import { Schema } from "effect"

/**
 * A store (memory, SQLite, Postgres) could not do its work. The cause stays for logs; the message
 * names no detail, because the HTTP layer shows it as a 503 and must leak nothing.
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  store: Schema.String,
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `The ${this.store} store could not ${this.operation}`
  }
}

/** A caller asked for something malformed (a bad scope, a TTL out of range, ...). */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String
}) {}
