/**
 * What the reference server's OAuth authorization server refuses, each its own test, over HTTP on
 * loopback with a browser paired for real (see `oauth.ts`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { request } from "./helpers.ts"
import {
  approveInBrowser,
  authorizationUrl,
  mcpStatus,
  newFlow,
  openPage,
  pairBrowser,
  postForm,
  postToken,
  start,
  tokensFor
} from "./oauth.ts"

const setup = Effect.gen(function*() {
  const server = yield* start()
  const origin = server.origin
  const cookie = yield* pairBrowser(server)
  const flow = yield* newFlow(origin)
  return { server, origin, cookie, flow }
})

/** A session cookie for a session with exactly `scopes`, issued by the server's own service. */
const cookieWith = (server: Effect.Success<ReturnType<typeof start>>, scopes: ReadonlyArray<string>) =>
  Effect.map(
    server.sessions.issue({ subject: "owner", scopes, method: "pairing" }),
    ({ token }) => `gatehouse_session_${server.port}=${Redacted.value(token)}`
  )

const exchange = (
  flow: Effect.Success<ReturnType<typeof newFlow>>,
  code: string,
  overrides: Record<string, string> = {}
) =>
  postToken(`${flow.origin}/oauth/token`, {
    grant_type: "authorization_code",
    code,
    client_id: flow.clientId,
    redirect_uri: flow.redirectUri,
    code_verifier: flow.verifier,
    ...overrides
  })

describe("OAuth refusals on the reference server", () => {
  it.live("a wrong PKCE verifier is invalid_grant, and burns the code", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow } = yield* setup
      const code = (yield* approveInBrowser(authorizationUrl(flow), cookie)).searchParams.get("code")!
      const wrong = yield* exchange(flow, code, { code_verifier: "x".repeat(43) })
      assert.strictEqual(wrong.status, 400)
      assert.strictEqual(wrong.json.error, "invalid_grant")
      assert.strictEqual(wrong.headers.get("cache-control"), "no-store")
      assert.strictEqual((yield* exchange(flow, code)).json.error, "invalid_grant")
    })))

  it.live("the plain PKCE method (or none) is refused at the redirect URI with iss", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      for (const method of ["plain", undefined]) {
        const page = yield* openPage(authorizationUrl(flow, { code_challenge_method: method }), cookie)
        assert.strictEqual(page.status, 302)
        const location = new URL(page.headers.get("location")!)
        assert.strictEqual(`${location.origin}${location.pathname}`, flow.redirectUri)
        assert.strictEqual(location.searchParams.get("error"), "invalid_request")
        assert.strictEqual(location.searchParams.get("iss"), origin)
        assert.strictEqual(location.searchParams.get("state"), flow.state)
      }
    })))

  it.live("a reused code is invalid_grant and revokes the tokens issued from it", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      const tokens = yield* tokensFor(flow, cookie)
      assert.strictEqual((yield* mcpStatus(origin, tokens.access_token)).status, 200)
      const again = yield* exchange(flow, tokens.code)
      assert.strictEqual(again.json.error, "invalid_grant")
      assert.strictEqual((yield* mcpStatus(origin, tokens.access_token)).status, 401)
      const refreshed = yield* postToken(`${origin}/oauth/token`, {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
        client_id: flow.clientId
      })
      assert.strictEqual(refreshed.json.error, "invalid_grant")
    })))

  it.live("a code presented by another client_id is invalid_grant", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      const other = yield* newFlow(origin)
      const code = (yield* approveInBrowser(authorizationUrl(flow), cookie)).searchParams.get("code")!
      const stolen = yield* exchange(flow, code, { client_id: other.clientId })
      assert.strictEqual(stolen.json.error, "invalid_grant")
    })))

  it.live("a redirect URI that is not registered: an error page, no redirect", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow } = yield* setup
      for (const uri of ["https://attacker.example/callback", "http://127.0.0.1/other", "http://127.0.0.2/callback"]) {
        const page = yield* openPage(authorizationUrl(flow, { redirect_uri: uri }), cookie)
        assert.strictEqual(page.status, 400)
        assert.isNull(page.headers.get("location"))
        assert.include(page.html, "invalid_request")
        assert.strictEqual(page.headers.get("cache-control"), "no-store")
        assert.include(page.headers.get("content-security-policy")!, "frame-ancestors 'none'")
      }
      // The loopback port is free (RFC 8252): the same URI on another port is the registered one.
      const port = yield* openPage(authorizationUrl(flow, { redirect_uri: "http://127.0.0.1:49152/callback" }), cookie)
      assert.strictEqual(port.status, 200)
    })))

  it.live("authorization requests cost the address's token budget unless valid: a flood of bad ones is 429", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow } = yield* setup
      // Valid requests are refunded: more of them than the budget holds all show the consent page.
      for (let i = 0; i < 15; i++) {
        assert.strictEqual((yield* openPage(authorizationUrl(flow), cookie)).status, 200)
      }
      const bad = authorizationUrl(flow, { redirect_uri: "https://attacker.example/callback" })
      const statuses: Array<number> = []
      let limited: Awaited<ReturnType<typeof fetch>>["headers"] | undefined
      for (let i = 0; i < 12 && limited === undefined; i++) {
        const page = yield* openPage(bad, cookie)
        statuses.push(page.status)
        if (page.status === 429) limited = page.headers
      }
      assert.deepStrictEqual(statuses, [...Array.from({ length: 10 }, () => 400), 429])
      assert.isAtLeast(Number(limited!.get("retry-after")), 1)
      assert.strictEqual(limited!.get("cache-control"), "no-store")
    })))

  it.live("a resource that is not this MCP endpoint is invalid_target", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      for (const resource of [`${origin}/other`, "https://example.com/mcp", `${origin}/mcp/`]) {
        const page = yield* openPage(authorizationUrl(flow, { resource }), cookie)
        assert.strictEqual(page.status, 302)
        const location = new URL(page.headers.get("location")!)
        assert.strictEqual(location.searchParams.get("error"), "invalid_target")
        assert.strictEqual(location.searchParams.get("iss"), origin)
      }
    })))

  it.live("scopes beyond the approving session: the approval is refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const { flow, server } = yield* setup
      const narrow = yield* cookieWith(server, ["write:access", "read:hello"])
      const url = authorizationUrl(flow, { scope: "read:hello write:tasks" })
      const page = yield* openPage(url, narrow)
      assert.strictEqual(page.status, 200)
      assert.include(page.html, "scopes-not-held")
      const posted = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie: narrow })
      assert.strictEqual(posted.status, 403)
      assert.include(posted.text, "invalid_scope")
      assert.isNull(posted.location)
      // The scopes it holds it may grant.
      const held = authorizationUrl(flow, { scope: "read:hello" })
      const ok = yield* approveInBrowser(held, narrow)
      assert.isNotNull(ok.searchParams.get("code"))
    })))

  it.live("a session without write:access cannot approve", () =>
    Effect.scoped(Effect.gen(function*() {
      const { flow, server } = yield* setup
      const reader = yield* cookieWith(server, ["read:hello", "read:access"])
      const url = authorizationUrl(flow, { scope: "read:hello" })
      const page = yield* openPage(url, reader)
      assert.include(page.html, "cannot-approve")
      const posted = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie: reader })
      assert.strictEqual(posted.status, 403)
      assert.isNull(posted.location)
      assert.strictEqual((yield* server.sessions.list).filter((session) => session.method === "oauth").length, 0)
    })))

  it.live("a CSRF token from another session, or used twice, is refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, server } = yield* setup
      const url = authorizationUrl(flow)
      const page = yield* openPage(url, cookie)
      const other = yield* pairBrowser(server)
      const foreign = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie: other })
      assert.strictEqual(foreign.status, 403)
      assert.isNull(foreign.location)
      const first = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie })
      assert.strictEqual(first.status, 303)
      const twice = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie })
      assert.strictEqual(twice.status, 403)
      assert.isNull(twice.location)
    })))

  it.live("the approval POST from a foreign Origin, or with none, is refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow } = yield* setup
      const url = authorizationUrl(flow)
      const page = yield* openPage(url, cookie)
      for (const origin of ["https://attacker.example", "http://localhost:1", ""]) {
        const posted = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie, origin })
        assert.strictEqual(posted.status, 403)
        assert.isNull(posted.location)
      }
      // The form is still good: nothing was used up by the refusals.
      const ok = yield* postForm(url, [...page.fields, ["action", "approve"]], { cookie })
      assert.strictEqual(ok.status, 303)
    })))

  it.live("deny redirects with error=access_denied, state and iss", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      const url = authorizationUrl(flow)
      const page = yield* openPage(url, cookie)
      const denied = yield* postForm(url, [...page.fields, ["action", "deny"]], { cookie })
      assert.strictEqual(denied.status, 303)
      const location = new URL(denied.location!)
      assert.strictEqual(location.searchParams.get("error"), "access_denied")
      assert.strictEqual(location.searchParams.get("state"), flow.state)
      assert.strictEqual(location.searchParams.get("iss"), origin)
      assert.isNull(location.searchParams.get("code"))
    })))

  it.live("a refresh token reused at once returns the same successor (the grace); its successor works", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      const tokens = yield* tokensFor(flow, cookie)
      const refresh = (token: string) =>
        postToken(`${origin}/oauth/token`, {
          grant_type: "refresh_token",
          refresh_token: token,
          client_id: flow.clientId
        })
      const first = yield* refresh(tokens.refresh_token)
      assert.strictEqual(first.status, 200, first.text)
      assert.notStrictEqual(first.json.refresh_token, tokens.refresh_token)
      const retried = yield* refresh(tokens.refresh_token)
      assert.strictEqual(retried.status, 200)
      assert.strictEqual(retried.json.refresh_token, first.json.refresh_token)
      assert.strictEqual((yield* mcpStatus(origin, retried.json.access_token)).status, 200)
      const next = yield* refresh(first.json.refresh_token)
      assert.strictEqual(next.status, 200)
      assert.notStrictEqual(next.json.refresh_token, first.json.refresh_token)
    })))

  it.live("a client id signed by a key not in this server's keyring: an error page", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, server } = yield* setup
      const elsewhere = yield* start()
      const foreign = yield* newFlow(elsewhere.origin)
      const page = yield* openPage(authorizationUrl({ ...foreign, origin: server.origin }), cookie)
      assert.strictEqual(page.status, 400)
      assert.isNull(page.headers.get("location"))
      assert.include(page.html, "invalid_client")
    })))

  it.live("an OAuth access token is refused at /api/hello and /api/auth/tokens; a session JWT is refused at /mcp", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin, server } = yield* setup
      const tokens = yield* tokensFor(flow, cookie, { scope: "read:hello" })
      const hello = yield* Effect.promise(() =>
        fetch(`${origin}/api/hello`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      )
      assert.strictEqual(hello.status, 401)
      const mint = yield* Effect.promise(() =>
        fetch(`${origin}/api/auth/tokens`, {
          method: "POST",
          headers: { authorization: `Bearer ${tokens.access_token}`, "content-type": "application/json" },
          body: JSON.stringify({ scopes: ["read:hello"] })
        })
      )
      assert.strictEqual(mint.status, 401)

      const session = yield* server.sessions.issue({ subject: "owner", scopes: ["read:hello"], method: "cli" })
      const minted = yield* Effect.promise(async () => {
        const response = await fetch(`${origin}/api/auth/tokens`, {
          method: "POST",
          headers: { authorization: `Bearer ${Redacted.value(session.token)}`, "content-type": "application/json" },
          body: JSON.stringify({ scopes: ["read:hello"] })
        })
        return (await response.json()) as { token: string }
      })
      const sessionJwt = yield* Effect.promise(() =>
        fetch(`${origin}/api/hello`, { headers: { authorization: `Bearer ${minted.token}` } })
      )
      assert.strictEqual(sessionJwt.status, 200)
      const atMcp = yield* mcpStatus(origin, minted.token)
      assert.strictEqual(atMcp.status, 401)
      assert.include(atMcp.challenge!, `resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`)
    })))

  it.live("revoking: the refresh token (RFC 7009) ends its access tokens; another client's revoke is a no-op", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin } = yield* setup
      const tokens = yield* tokensFor(flow, cookie)
      const other = yield* newFlow(origin)
      const foreign = yield* postToken(`${origin}/oauth/revoke`, {
        token: tokens.refresh_token,
        client_id: other.clientId
      })
      assert.strictEqual(foreign.status, 200)
      assert.strictEqual((yield* mcpStatus(origin, tokens.access_token)).status, 200)
      const unknown = yield* postToken(`${origin}/oauth/revoke`, { token: "grt_nothing", client_id: flow.clientId })
      assert.strictEqual(unknown.status, 200)
      const revoked = yield* postToken(`${origin}/oauth/revoke`, {
        token: tokens.refresh_token,
        client_id: flow.clientId
      })
      assert.strictEqual(revoked.status, 200)
      assert.strictEqual((yield* mcpStatus(origin, tokens.access_token)).status, 401)
    })))

  it.live("one identity model: the grant is in the sessions API; revoking it there, or the approving session, ends it", () =>
    Effect.scoped(Effect.gen(function*() {
      const { cookie, flow, origin, server } = yield* setup
      const tokens = yield* tokensFor(flow, cookie)
      const listed = yield* Effect.promise(async () => {
        const response = await fetch(`${origin}/api/auth/sessions`, { headers: { cookie } })
        return (await response.json()) as { sessions: Array<any> }
      })
      const grant = listed.sessions.find((session) => session.method === "oauth")
      assert.isDefined(grant)
      assert.strictEqual(grant.client.label, "Test agent")
      assert.strictEqual(grant.client.browser, "via OAuth")
      const removed = yield* Effect.promise(() =>
        fetch(`${origin}/api/auth/sessions/${grant.id}`, { method: "DELETE", headers: { cookie, origin } })
      )
      assert.strictEqual(removed.status, 200)
      assert.strictEqual((yield* mcpStatus(origin, tokens.access_token)).status, 401)

      // A second grant, then the approving browser session is revoked: the grant goes with it.
      const second = yield* tokensFor(yield* newFlow(origin), cookie)
      assert.strictEqual((yield* mcpStatus(origin, second.access_token)).status, 200)
      const approver = (yield* server.sessions.list).find((session) => session.method !== "oauth")!
      yield* server.sessions.revoke(approver.sid)
      assert.strictEqual((yield* mcpStatus(origin, second.access_token)).status, 401)
      assert.strictEqual((yield* server.sessions.list).filter((session) => session.method === "oauth").length, 0)
    })))

  it.live("a token without a scope the endpoint requires: 403 insufficient_scope naming it, with resource_metadata", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* start({ mcpRequiredScopes: ["write:tasks"] })
      const cookie = yield* pairBrowser(server)
      const narrow = yield* tokensFor(yield* newFlow(server.origin), cookie, { scope: "read:hello" })
      const refused = yield* mcpStatus(server.origin, narrow.access_token)
      assert.strictEqual(refused.status, 403)
      assert.include(refused.challenge!, `error="insufficient_scope"`)
      assert.include(refused.challenge!, `scope="write:tasks"`)
      assert.include(
        refused.challenge!,
        `resource_metadata="${server.origin}/.well-known/oauth-protected-resource/mcp"`
      )
      const wide = yield* tokensFor(yield* newFlow(server.origin), cookie, { scope: "read:hello write:tasks" })
      assert.strictEqual((yield* mcpStatus(server.origin, wide.access_token)).status, 200)
    })))

  it.live("discovery: RFC 8414 and RFC 9728 documents derived from the Host used", () =>
    Effect.scoped(Effect.gen(function*() {
      const { server } = yield* setup
      for (const host of ["localhost", "127.0.0.1"]) {
        const origin = `http://${host}:${server.port}`
        const metadata = yield* Effect.promise(async () =>
          (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json() as Promise<any>
        )
        assert.deepStrictEqual(metadata, {
          issuer: origin,
          authorization_endpoint: `${origin}/oauth/authorize`,
          token_endpoint: `${origin}/oauth/token`,
          registration_endpoint: `${origin}/oauth/register`,
          revocation_endpoint: `${origin}/oauth/revoke`,
          response_types_supported: ["code"],
          response_modes_supported: ["query"],
          grant_types_supported: ["authorization_code", "refresh_token"],
          code_challenge_methods_supported: ["S256"],
          token_endpoint_auth_methods_supported: ["none"],
          revocation_endpoint_auth_methods_supported: ["none"],
          client_id_metadata_document_supported: true,
          authorization_response_iss_parameter_supported: true,
          scopes_supported: ["read:hello", "write:hello", "read:runs", "write:tasks"],
          // DPoP is on by default (RFC 9449 section 5.1).
          dpop_signing_alg_values_supported: ["ES256", "Ed25519", "EdDSA"]
        })
        const resource = yield* Effect.promise(async () =>
          (await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`)).json() as Promise<any>
        )
        assert.strictEqual(resource.resource, `${origin}/mcp`)
        assert.deepStrictEqual(resource.authorization_servers, [origin])
      }
      // Another Host is refused on loopback (DNS rebinding), so nothing is derived from it.
      const rebound = yield* request(`http://127.0.0.1:${server.port}/.well-known/oauth-authorization-server`, {
        headers: { host: `attacker.example:${server.port}` }
      })
      assert.strictEqual(rebound.status, 403)
    })))

  it.live("registration: a client_secret method is registered as none; bad redirect URIs are refused", () =>
    Effect.scoped(Effect.gen(function*() {
      const { origin } = yield* setup
      const { register } = yield* Effect.promise(() => import("./oauth.ts"))
      const secret = yield* register(origin, {
        redirect_uris: ["http://localhost/callback"],
        token_endpoint_auth_method: "client_secret_basic"
      })
      assert.strictEqual(secret.status, 201)
      assert.strictEqual(secret.json.token_endpoint_auth_method, "none")
      assert.isUndefined(secret.json.client_secret)
      for (
        const uris of [
          [],
          ["http://example.com/callback"],
          ["https://example.com/cb#fragment"],
          ["javascript:alert(1)"],
          ["https://user:pw@example.com/cb"],
          [`https://example.com/${"a".repeat(600)}`],
          Array.from({ length: 6 }, (_, i) => `https://example.com/${i}`)
        ]
      ) {
        const refused = yield* register(origin, { redirect_uris: uris })
        assert.strictEqual(refused.status, 400, JSON.stringify(uris))
        assert.oneOf(refused.json.error, ["invalid_redirect_uri", "invalid_client_metadata"])
      }
      const privateUse = yield* register(origin, { redirect_uris: ["com.example.agent:/callback"] })
      assert.strictEqual(privateUse.status, 201)
    })))
})
