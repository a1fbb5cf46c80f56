/**
 * OAuth clients of the authorization server. Every client is public (no secret): its identity is
 * its `client_id`, and what it may do is bound to the redirect URIs that id names.
 *
 * Dynamic registration (RFC 7591) keeps nothing: `register` returns a `client_id` that carries the
 * client's name and redirect URIs and is signed with a key of the `SigningKeyring`
 * (`gc1.<kid>.<payload>.<signature>`). Every instance sharing the keyring accepts it, as long as
 * that key is kept (a key retired past the keyring's retention makes the client register again).
 * A client asking for a `client_secret_*` method is registered as `none`, and the answer says so.
 *
 * A `client_id` that is an `https` URL names a client ID metadata document, fetched through the
 * `OAuthClientDocumentFetcher` when one is provided (see `OAuthClientDocuments`): valid documents
 * are reused by their `Cache-Control` within 1 minute and 1 day (at most 1000 kept), a refused one
 * is never kept.
 *
 * Limits: 1 to 5 redirect URIs (see `OAuthRedirectUri`), a name of at most 100 characters of plain
 * text, and the whole `client_id` at most `maxClientIdLength` characters (it rides in every access
 * token's `client_id` claim).
 */
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import * as Base64Url from "./Base64Url.ts"
import * as ClientMetadata from "./ClientMetadata.ts"
import { randomId } from "./Hashing.ts"
import * as OAuthClientDocuments from "./OAuthClientDocuments.ts"
import * as OAuthRedirectUri from "./OAuthRedirectUri.ts"
import * as SigningKeyring from "./SigningKeyring.ts"

export const maxRedirectUris = 5
export const maxClientNameLength = 100
export const maxClientIdLength = 1536

/** A client the authorization server knows, by whichever way it identified itself. */
export interface OAuthClient {
  readonly clientId: string
  /** What the client calls itself: its own claim, never verified. */
  readonly clientName: string | undefined
  readonly redirectUris: ReadonlyArray<string>
  /** `registered`: a signed id from `POST /oauth/register`; `metadata-document`: an https URL. */
  readonly kind: "registered" | "metadata-document"
}

/** What a registration request may say (RFC 7591 §2); unknown fields are ignored. */
export const RegistrationRequest = Schema.Struct({
  redirect_uris: Schema.Array(Schema.String),
  client_name: Schema.optional(Schema.String),
  token_endpoint_auth_method: Schema.optional(Schema.String),
  grant_types: Schema.optional(Schema.Array(Schema.String)),
  response_types: Schema.optional(Schema.Array(Schema.String)),
  scope: Schema.optional(Schema.String)
})
export type RegistrationRequest = typeof RegistrationRequest.Type

export interface Registered {
  readonly client_id: string
  readonly client_id_issued_at: number
  readonly client_name?: string | undefined
  readonly redirect_uris: ReadonlyArray<string>
  readonly token_endpoint_auth_method: "none"
  readonly grant_types: ReadonlyArray<string>
  readonly response_types: ReadonlyArray<string>
}

/** A registration the server refuses (RFC 7591 §3.2.2 error codes). */
export class InvalidClientMetadata extends Schema.TaggedError<InvalidClientMetadata>()("InvalidClientMetadata", {
  error: Schema.Literals(["invalid_redirect_uri", "invalid_client_metadata"]),
  message: Schema.String
}) {}

export interface OAuthClientsShape {
  readonly register: (request: RegistrationRequest) => Effect.Effect<Registered, InvalidClientMetadata>
  /** Whether `https://` client ids (metadata documents) are resolved (a fetcher is provided). */
  readonly metadataDocuments: boolean
  /** The client a `client_id` names, if it is a valid one; hostile text is `None`. */
  readonly resolve: (clientId: string) => Effect.Effect<Option.Option<OAuthClient>>
}

export class OAuthClients extends Context.Service<OAuthClients, OAuthClientsShape>()(
  "@gatehouse-auth/core/OAuthClients"
) {}

const Payload = Schema.Struct({
  v: Schema.Literal(1),
  n: Schema.optional(ClientMetadata.PlainText(maxClientNameLength)),
  r: Schema.Array(Schema.String).check(Schema.isMinLength(1), Schema.isMaxLength(maxRedirectUris)),
  t: Schema.Int,
  j: Schema.String
})
const decodePayload = Schema.decodeUnknownOption(Schema.fromJsonString(Payload))

const prefix = "gc1"
const signingInput = (kid: string, payload: string) => `gatehouse/oauth-client/v1.${kid}.${payload}`

/** Fetched documents are reused for at least 1 minute (a flood of authorizations fetches once) and at most 1 day. */
const minCacheSeconds = 60
const maxCacheSeconds = 86_400
const maxCachedDocuments = 1000

export const make = Effect.fnUntraced(function*() {
  const keyring = yield* SigningKeyring.SigningKeyring
  const fetcher = Option.getOrUndefined(yield* Effect.serviceOption(OAuthClientDocuments.OAuthClientDocumentFetcher))
  /** Valid documents only, by URL, until their time is up; a refusal is never kept as valid. */
  const documents = new Map<string, { readonly client: OAuthClient; readonly until: number }>()

  const resolveDocument = Effect.fnUntraced(function*(clientId: string) {
    const url = OAuthClientDocuments.clientIdUrl(clientId)
    if (url === undefined || fetcher === undefined) return Option.none<OAuthClient>()
    const now = yield* Clock.currentTimeMillis
    const cached = documents.get(url.href)
    if (cached !== undefined && now < cached.until) return Option.some(cached.client)
    documents.delete(url.href)
    const fetched = yield* fetcher.fetch(url)
    if ("problem" in fetched) {
      yield* Effect.logDebug("Client ID metadata document refused", url.host, fetched.problem)
      return Option.none<OAuthClient>()
    }
    const parsed = OAuthClientDocuments.parseDocument(url, fetched.body)
    if ("problem" in parsed) {
      yield* Effect.logDebug("Client ID metadata document refused", url.host, parsed.problem)
      return Option.none<OAuthClient>()
    }
    const client: OAuthClient = {
      clientId: url.href,
      clientName: parsed.document.client_name,
      redirectUris: parsed.document.redirect_uris,
      kind: "metadata-document"
    }
    const seconds = Math.min(maxCacheSeconds, Math.max(minCacheSeconds, fetched.maxAgeSeconds))
    if (documents.size >= maxCachedDocuments) documents.delete(documents.keys().next().value!)
    documents.set(url.href, { client, until: now + seconds * 1000 })
    return Option.some(client)
  })

  const register = Effect.fn("OAuthClients.register")(function*(request: RegistrationRequest) {
    const uris = request.redirect_uris
    if (uris.length === 0 || uris.length > maxRedirectUris) {
      return yield* new InvalidClientMetadata({
        error: "invalid_redirect_uri",
        message: `register 1 to ${maxRedirectUris} redirect URIs`
      })
    }
    for (const uri of uris) {
      const kind = OAuthRedirectUri.classify(uri)
      if ("problem" in kind) {
        return yield* new InvalidClientMetadata({ error: "invalid_redirect_uri", message: kind.problem })
      }
    }
    const name = request.client_name
    if (name !== undefined && (name.length > maxClientNameLength || !ClientMetadata.isPlainText(name))) {
      return yield* new InvalidClientMetadata({
        error: "invalid_client_metadata",
        message: `client_name must be plain text of at most ${maxClientNameLength} characters`
      })
    }
    const grantTypes = request.grant_types ?? ["authorization_code", "refresh_token"]
    if (grantTypes.some((grant) => grant !== "authorization_code" && grant !== "refresh_token")) {
      return yield* new InvalidClientMetadata({
        error: "invalid_client_metadata",
        message: "grant_types may hold only authorization_code and refresh_token"
      })
    }
    if ((request.response_types ?? ["code"]).some((type) => type !== "code")) {
      return yield* new InvalidClientMetadata({
        error: "invalid_client_metadata",
        message: "response_types may hold only code"
      })
    }
    const issuedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const payload = Base64Url.encodeString(
      // `j`: random, so two registrations alike are still two clients.
      JSON.stringify({ v: 1, ...(name === undefined ? {} : { n: name }), r: uris, t: issuedAt, j: randomId(9) })
    )
    let kid = ""
    const signed = keyring.signUnsafe((current) => signingInput(kid = current, payload))
    const clientId = `${prefix}.${kid}.${payload}.${signed.signature}`
    if (clientId.length > maxClientIdLength) {
      return yield* new InvalidClientMetadata({
        error: "invalid_client_metadata",
        message:
          `the redirect URIs and name together are too long (the client id would exceed ${maxClientIdLength} characters)`
      })
    }
    return {
      client_id: clientId,
      client_id_issued_at: issuedAt,
      ...(name === undefined ? {} : { client_name: name }),
      redirect_uris: [...uris],
      // Every client is public: a request for a secret-based method is registered as `none`.
      token_endpoint_auth_method: "none" as const,
      grant_types: grantTypes,
      response_types: ["code"]
    }
  })

  const resolve = (clientId: string): Effect.Effect<Option.Option<OAuthClient>> => {
    if (typeof clientId !== "string" || clientId.length > maxClientIdLength) return Effect.succeed(Option.none())
    if (clientId.startsWith("https://")) return resolveDocument(clientId)
    const parts = clientId.split(".")
    if (parts.length !== 4 || parts[0] !== prefix) return Effect.succeed(Option.none())
    const [, kid, payload, signature] = parts as [string, string, string, string]
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid) || !/^[A-Za-z0-9_-]+$/.test(payload)) return Effect.succeed(Option.none())
    return Effect.map(keyring.verify(kid, signingInput(kid, payload), signature), (valid) => {
      if (!valid) return Option.none()
      const bytes = Base64Url.decodeOrUndefined(payload)
      if (bytes === undefined) return Option.none()
      return Option.flatMap(
        decodePayload(Buffer.from(bytes).toString("utf8")),
        (decoded) =>
          decoded.r.every(OAuthRedirectUri.isRegistrable)
            ? Option.some<OAuthClient>({
              clientId,
              clientName: decoded.n,
              redirectUris: decoded.r,
              kind: "registered"
            })
            : Option.none()
      )
    })
  }

  return OAuthClients.of({ register, resolve, metadataDocuments: fetcher !== undefined })
})

/**
 * Needs the `SigningKeyring`; with an `OAuthClientDocumentFetcher` provided (`@gatehouse-auth/http`
 * has one) it also resolves client ID metadata documents.
 */
export const layer = Layer.effect(OAuthClients, make())
