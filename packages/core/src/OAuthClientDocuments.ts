/**
 * Client ID metadata documents (the MCP authorization specification's preferred way for a client
 * to identify itself): the `client_id` is an `https` URL, and the JSON document at that URL says
 * the client's name and redirect URIs. Here: the URL rules, the document's Schema and the service
 * that fetches documents. Fetching is I/O with its own dangers (SSRF), so its implementation lives
 * in `@gatehouse-auth/http` (`OAuthClientDocumentFetcher`); `OAuthClients` uses it when provided.
 */
import { Context, type Effect, Option, Schema } from "effect"
import * as ClientMetadata from "./ClientMetadata.ts"
import * as OAuthRedirectUri from "./OAuthRedirectUri.ts"

/** Longest client id URL accepted. */
export const maxUrlLength = 512

/**
 * The URL of a client id that names a metadata document, or `undefined`: `https`, a path other than
 * `/`, no userinfo, no fragment, no dot segments, at most 512 characters, and written in its
 * normalised form (what the URL parser gives back), so one document has one id.
 */
export const clientIdUrl = (clientId: string): URL | undefined => {
  if (clientId.length > maxUrlLength || !clientId.startsWith("https://")) return undefined
  if (clientId.includes("#") || /[\u0000-\u0020\u007f-\uffff\\]/.test(clientId)) return undefined
  let url: URL
  try {
    url = new URL(clientId)
  } catch {
    return undefined
  }
  if (url.username !== "" || url.password !== "" || url.pathname === "/" || url.pathname === "") return undefined
  const raw = clientId.slice(`https://${url.host}`.length).split("?")[0]!
  if (raw.split("/").some((segment) => segment === "." || segment === ".." || /^%2e(%2e)?$/i.test(segment))) {
    return undefined
  }
  return url.href === clientId ? url : undefined
}

/** The document, as much of RFC 7591's client metadata as is used here. */
export const ClientDocument = Schema.Struct({
  client_id: Schema.String,
  client_name: Schema.optional(ClientMetadata.PlainText(100)),
  redirect_uris: Schema.Array(Schema.String).check(Schema.isMinLength(1), Schema.isMaxLength(5)),
  token_endpoint_auth_method: Schema.optional(Schema.String),
  grant_types: Schema.optional(Schema.Array(Schema.String)),
  response_types: Schema.optional(Schema.Array(Schema.String))
})
export type ClientDocument = typeof ClientDocument.Type
const decodeDocument = Schema.decodeUnknownOption(ClientDocument)

/** Why a document is refused (for logs and tests; the client sees `invalid_client`). */
export type Problem =
  | "Url"
  | "Address"
  | "Redirect"
  | "Status"
  | "TooLarge"
  | "Timeout"
  | "Busy"
  | "Network"
  | "Json"
  | "Schema"
  | "ClientIdMismatch"
  | "RedirectUris"
  | "AuthMethod"

/** The client a fetched body describes, or why not. */
export const parseDocument = (
  url: URL,
  body: string
): { readonly document: ClientDocument } | { readonly problem: Problem } => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return { problem: "Json" }
  }
  const decoded = decodeDocument(json)
  if (Option.isNone(decoded)) return { problem: "Schema" }
  const document = decoded.value
  if (document.client_id !== url.href) return { problem: "ClientIdMismatch" }
  if (!document.redirect_uris.every(OAuthRedirectUri.isRegistrable)) return { problem: "RedirectUris" }
  const method = document.token_endpoint_auth_method
  if (method !== undefined && method !== "none") return { problem: "AuthMethod" }
  return { document }
}

export interface Fetched {
  readonly body: string
  /** How long the document may be reused (from its `Cache-Control`), in seconds; 0 for not at all. */
  readonly maxAgeSeconds: number
}

export interface OAuthClientDocumentFetcherShape {
  /** The document at `url` (already checked by `clientIdUrl`), or why it could not be fetched. */
  readonly fetch: (url: URL) => Effect.Effect<Fetched | { readonly problem: Problem }>
}

export class OAuthClientDocumentFetcher extends Context.Service<
  OAuthClientDocumentFetcher,
  OAuthClientDocumentFetcherShape
>()("@gatehouse-auth/core/OAuthClientDocumentFetcher") {}
