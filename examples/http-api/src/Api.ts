/**
 * The API: schemas and endpoints only, no server code, so a client can share it. Each protected
 * endpoint says what it needs with `HttpApiAuth.requireScopes`; the OpenAPI document shows it.
 */
import { HttpApiAuth } from "@gatehouse-auth/http"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"

export const Note = Schema.Struct({
  id: Schema.Int,
  text: Schema.String,
  /** The subject of the session that wrote it. */
  author: Schema.String
})
export type Note = typeof Note.Type

export class NotesGroup extends HttpApiGroup.make("notes").add(
  // Public: no middleware, no credential.
  HttpApiEndpoint.get("health", "/api/health", { success: Schema.Struct({ ok: Schema.Literal(true) }) }),
  HttpApiEndpoint.get("list", "/api/notes", { success: Schema.Array(Note) })
    .pipe(HttpApiAuth.requireScopes("read:notes")),
  HttpApiEndpoint.post("create", "/api/notes", {
    payload: Schema.Struct({ text: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(500)) }),
    success: Note.pipe(HttpApiSchema.status(201))
  }).pipe(HttpApiAuth.requireScopes("write:notes"))
) {}

export class Api extends HttpApi.make("notes").add(NotesGroup).annotateMerge(OpenApi.annotations({
  title: "Notes",
  description: "A Gatehouse example: pair with a code, then call the notes endpoints"
})) {}
