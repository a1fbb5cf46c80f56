/**
 * Helpers for the OAuth tests: a reference server on loopback, a browser paired with it the real
 * way (the startup pairing credential exchanged over HTTP for a session cookie), and that browser's
 * part of the consent (read the page, post the form), driven over HTTP.
 */
import { assert } from "@effect/vitest"
import type { ServerAuth } from "@gatehouse-auth/core"
import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect, Layer, Redacted } from "effect"
import * as Crypto from "node:crypto"
import { GatehouseServer } from "../src/index.ts"

export const start = (options: Partial<GatehouseServer.Options> = {}) =>
  Effect.gen(function*() {
    const stateDir = yield* tempDirectory
    const context = yield* Layer.build(GatehouseServer.layer({ host: "127.0.0.1", port: 0, stateDir, ...options }))
    const services = GatehouseServer.services(context)
    return { ...services, context, port: services.info.port, origin: services.info.baseUrl }
  })

/** A browser's session cookie (`name=value`), paired with the startup credential over HTTP. */
export const pairBrowser = (
  server: { readonly serverAuth: ServerAuth.ServerAuthShape; readonly port: number },
  host = "127.0.0.1"
) =>
  Effect.gen(function*() {
    const origin = `http://${host}:${server.port}`
    const issued = yield* server.serverAuth.issueStartupPairingUrl(origin)
    const response = yield* Effect.promise(() =>
      fetch(`${origin}/api/auth/bootstrap`, {
        method: "POST",
        headers: { "content-type": "application/json", origin },
        body: JSON.stringify({ credential: Redacted.value(issued.credential) })
      })
    )
    assert.strictEqual(response.status, 200, yield* Effect.promise(() => response.text()))
    const setCookie = response.headers.getSetCookie()
    const cookie = setCookie.map((line) => line.split(";")[0]!).find((pair) => pair.startsWith("gatehouse_session_"))
    assert.isDefined(cookie)
    return cookie!
  })

const unescape = (text: string) =>
  text.replace(/&quot;/g, "\"").replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(
    /&amp;/g,
    "&"
  )

/** The hidden fields of the page's form, in order. */
export const hiddenFields = (html: string): Array<[string, string]> =>
  [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((match) => [
    unescape(match[1]!),
    unescape(match[2]!)
  ])

export interface Page {
  readonly status: number
  readonly html: string
  readonly headers: Headers
  readonly fields: Array<[string, string]>
}

/** The browser opens the authorization URL (with its cookie, if any). */
export const openPage = (url: string | URL, cookie?: string) =>
  Effect.promise(async (): Promise<Page> => {
    const response = await fetch(url, { headers: cookie === undefined ? {} : { cookie }, redirect: "manual" })
    const html = await response.text()
    return { status: response.status, html, headers: response.headers, fields: hiddenFields(html) }
  })

/** The browser posts the consent form; answers the status and the redirect's `Location`. */
export const postForm = (
  url: string | URL,
  fields: ReadonlyArray<readonly [string, string]>,
  options: { readonly cookie?: string | undefined; readonly origin?: string | undefined } = {}
) =>
  Effect.promise(async () => {
    const target = new URL("/oauth/authorize", url)
    const response = await fetch(target, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
        ...(options.origin === "" ? {} : { origin: options.origin ?? target.origin })
      },
      body: new URLSearchParams(fields.map(([name, value]): [string, string] => [name, value])).toString(),
      redirect: "manual"
    })
    const text = await response.text()
    return { status: response.status, location: response.headers.get("location"), text, headers: response.headers }
  })

/** The whole consent by a paired browser: open the page, approve; the redirect's URL. */
export const approveInBrowser = (authorizationUrl: string | URL, cookie: string) =>
  Effect.gen(function*() {
    const page = yield* openPage(authorizationUrl, cookie)
    assert.strictEqual(page.status, 200, page.html)
    const approved = yield* postForm(authorizationUrl, [...page.fields, ["action", "approve"]], { cookie })
    assert.strictEqual(approved.status, 303, approved.text)
    return new URL(approved.location!)
  })

/** A form POST to an OAuth endpoint; the JSON answer. */
export const postToken = (url: string, params: Record<string, string>, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(params).toString()
    })
    const text = await response.text()
    let json: any = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: response.status, json, text, headers: response.headers }
  })

/** `POST /oauth/register` (RFC 7591); the JSON answer. */
export const register = (origin: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${origin}/oauth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, json: (await response.json()) as any, headers: response.headers }
  })

/** A PKCE verifier and its S256 challenge. */
export const pkce = () => {
  const verifier = Crypto.randomBytes(32).toString("base64url")
  return { verifier, challenge: Crypto.createHash("sha256").update(verifier).digest("base64url") }
}

export interface Flow {
  readonly origin: string
  readonly clientId: string
  readonly redirectUri: string
  readonly verifier: string
  readonly challenge: string
  readonly state: string
}

/** A registered client with a fresh PKCE pair, ready to authorize. */
export const newFlow = (origin: string, redirectUri = "http://127.0.0.1/callback", clientName = "Test agent") =>
  Effect.gen(function*() {
    const registered = yield* register(origin, { redirect_uris: [redirectUri], client_name: clientName })
    assert.strictEqual(registered.status, 201, JSON.stringify(registered.json))
    return {
      origin,
      clientId: registered.json.client_id as string,
      redirectUri,
      ...pkce(),
      state: Crypto.randomBytes(8).toString("hex")
    } satisfies Flow
  })

/** The authorization URL of `flow`, with `overrides` replacing (or, `undefined`, removing) parameters. */
export const authorizationUrl = (flow: Flow, overrides: Record<string, string | undefined> = {}) => {
  const params: Record<string, string | undefined> = {
    response_type: "code",
    client_id: flow.clientId,
    redirect_uri: flow.redirectUri,
    code_challenge: flow.challenge,
    code_challenge_method: "S256",
    state: flow.state,
    resource: `${flow.origin}/mcp`,
    ...overrides
  }
  const url = new URL(`${flow.origin}/oauth/authorize`)
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value)
  return url
}

/** Approve `flow` in a paired browser and exchange the code: the token response. */
export const tokensFor = (flow: Flow, cookie: string, overrides: Record<string, string | undefined> = {}) =>
  Effect.gen(function*() {
    const callback = yield* approveInBrowser(authorizationUrl(flow, overrides), cookie)
    const code = callback.searchParams.get("code")!
    const exchanged = yield* postToken(`${flow.origin}/oauth/token`, {
      grant_type: "authorization_code",
      code,
      client_id: flow.clientId,
      redirect_uri: flow.redirectUri,
      code_verifier: flow.verifier,
      resource: `${flow.origin}/mcp`
    })
    assert.strictEqual(exchanged.status, 200, exchanged.text)
    return { code, ...(exchanged.json as { access_token: string; refresh_token: string; scope: string }) }
  })

/** A JSON-RPC `initialize` at `/mcp` with `headers`: the status (200 when the credential is accepted). */
export const mcpInitialize = (origin: string, headers: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(`${origin}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
        ...headers
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "probe", version: "1" } }
      })
    })
    await response.text()
    return { status: response.status, headers: response.headers, challenge: response.headers.get("www-authenticate") }
  })

/** `mcpInitialize` with `Authorization: Bearer <token>`. */
export const mcpStatus = (origin: string, token: string) => mcpInitialize(origin, { authorization: `Bearer ${token}` })
