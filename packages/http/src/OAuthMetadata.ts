/**
 * Where the OAuth authorization server and the MCP resource are, and the discovery documents that
 * say so (RFC 8414, RFC 9728). Pure helpers over a request.
 *
 * The issuer, the resource and every endpoint are derived from the origin the client used, so a
 * client pointed at `http://localhost:<port>/mcp` sees `localhost` throughout and one pointed at
 * `http://127.0.0.1:<port>/mcp` sees `127.0.0.1`:
 *
 * - with a public origin configured (`publicOrigin`, the reference server's `--public-url`), that
 *   origin, always (an `http` one only if it is loopback);
 * - on loopback (`localhost`, `127.0.0.1`, `[::1]`; the Host guard allows nothing else there), the
 *   Host the request named, over `http` or `https`;
 * - anywhere else only over HTTPS (the built-in TLS): the authorization server never runs over
 *   plain HTTP off loopback, and `contextFor` answers `undefined`.
 */
import type { OAuthAuthorizationServer } from "@gatehouse-auth/core"
import type { HttpServerRequest } from "effect/http"
import type { HttpAuthSettingsShape } from "./HttpAuthSettings.ts"
import * as RequestInfo from "./RequestInfo.ts"

export const authorizationServerPath = "/.well-known/oauth-authorization-server"
export const protectedResourcePath = "/.well-known/oauth-protected-resource"
export const authorizePath = "/oauth/authorize"
export const tokenPath = "/oauth/token"
export const registerPath = "/oauth/register"
export const revokePath = "/oauth/revoke"

const loopbackNames: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"])

export interface Endpoints extends OAuthAuthorizationServer.AuthorizationContext {
  /** The origin everything else is derived from. */
  readonly origin: string
  /** The RFC 9728 document of the MCP resource (`<origin>/.well-known/oauth-protected-resource<path>`). */
  readonly resourceMetadata: string
}

/** The origin a request reached this server at, by the rules above; `undefined` refuses OAuth. */
export const originFor = (
  request: HttpServerRequest.HttpServerRequest,
  settings: Pick<HttpAuthSettingsShape, "publicOrigin">
): string | undefined => {
  if (settings.publicOrigin !== undefined) {
    // A public origin over plain HTTP is allowed only when it is a loopback one.
    const named = RequestInfo.hostName(settings.publicOrigin.replace(/^https?:\/\//, ""))
    return settings.publicOrigin.startsWith("https://") || (named !== undefined && loopbackNames.has(named))
      ? settings.publicOrigin
      : undefined
  }
  const host = request.headers["host"]?.trim().toLowerCase()
  const name = RequestInfo.hostName(host)
  if (host === undefined || name === undefined) return undefined
  const https = RequestInfo.isHttps(request)
  if (loopbackNames.has(name)) return `${https ? "https" : "http"}://${host}`
  return https ? `https://${host}` : undefined
}

/** The issuer, resource and metadata URL of a request to the MCP endpoint at `mcpPath`. */
export const endpointsFor = (
  request: HttpServerRequest.HttpServerRequest,
  settings: Pick<HttpAuthSettingsShape, "publicOrigin">,
  mcpPath: string
): Endpoints | undefined => {
  const origin = originFor(request, settings)
  if (origin === undefined) return undefined
  return {
    origin,
    issuer: origin,
    resource: `${origin}${mcpPath}`,
    resourceMetadata: `${origin}${protectedResourcePath}${mcpPath === "/" ? "" : mcpPath}`
  }
}

/** The RFC 8414 document of the authorization server at `issuer`. */
export const authorizationServerMetadata = (
  issuer: string,
  scopesSupported: ReadonlyArray<string>,
  clientIdMetadataDocuments = false,
  /** The DPoP proof algorithms (RFC 9449 section 5.1); none: DPoP is off, the member is left out. */
  dpopAlgorithms: ReadonlyArray<string> = []
) => ({
  issuer,
  authorization_endpoint: `${issuer}${authorizePath}`,
  token_endpoint: `${issuer}${tokenPath}`,
  registration_endpoint: `${issuer}${registerPath}`,
  revocation_endpoint: `${issuer}${revokePath}`,
  response_types_supported: ["code"],
  response_modes_supported: ["query"],
  grant_types_supported: ["authorization_code", "refresh_token"],
  code_challenge_methods_supported: ["S256"],
  token_endpoint_auth_methods_supported: ["none"],
  revocation_endpoint_auth_methods_supported: ["none"],
  client_id_metadata_document_supported: clientIdMetadataDocuments,
  authorization_response_iss_parameter_supported: true,
  scopes_supported: [...scopesSupported],
  ...(dpopAlgorithms.length === 0 ? {} : { dpop_signing_alg_values_supported: [...dpopAlgorithms] })
})

/** The RFC 9728 document of the MCP resource; `authorizationServer` absent when OAuth is off. */
export const protectedResourceMetadata = (options: {
  readonly resource: string
  readonly authorizationServer: string | undefined
  readonly scopesSupported: ReadonlyArray<string> | undefined
  readonly resourceName: string
  /** The DPoP proof algorithms the resource takes (RFC 9728 `dpop_signing_alg_values_supported`). */
  readonly dpopAlgorithms?: ReadonlyArray<string> | undefined
  /** Every access token must be DPoP-bound (`dpop_bound_access_tokens_required`). */
  readonly dpopRequired?: boolean | undefined
}) => ({
  resource: options.resource,
  authorization_servers: options.authorizationServer === undefined ? [] : [options.authorizationServer],
  ...(options.scopesSupported === undefined ? {} : { scopes_supported: [...options.scopesSupported] }),
  bearer_methods_supported: ["header"],
  resource_name: options.resourceName,
  ...(options.dpopAlgorithms === undefined || options.dpopAlgorithms.length === 0
    ? {}
    : { dpop_signing_alg_values_supported: [...options.dpopAlgorithms] }),
  ...(options.dpopRequired === true ? { dpop_bound_access_tokens_required: true } : {})
})
