/**
 * The `/pair` page: one HTML document (inline CSS and a module script, no build step) that pairs
 * the browser and, once paired, lists sessions and makes pairing links. It is built on
 * `@gatehouse-auth/client`, which this module serves at `/pair/client.js`: in the workspace the
 * client's TypeScript source with the types stripped (Node's `stripTypeScriptTypes`), installed
 * from npm the package's built `dist/index.js`. It talks to the auth routes with the cookie flow
 * only; no session token is ever readable by the page's script.
 *
 * Served with a strict Content-Security-Policy whose nonce is new for every response (the only
 * scripts and styles that run are the two inline blocks, and the client the module script imports,
 * which inherits its nonce), `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (the page's
 * URL may carry a pairing token until the script strips it) and `X-Frame-Options: DENY` (no
 * clickjacking of the revoke buttons).
 */
import { Hashing } from "@gatehouse-auth/core"
import { HttpAuth } from "@gatehouse-auth/http"
import { Effect, FileSystem, Path } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as NodeModule from "node:module"

const placeholder = (name: string) => `{{${name}}}`

/** The page with CSS and JS inlined; `{{nonce}}` is left for each response. */
export const render = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const read = (file: string) => fs.readFileString(path.join(import.meta.dirname, "pair", file))
  const [html, css, js] = yield* Effect.all([read("page.html"), read("page.css"), read("page.js")])
  // Split first so that the contents of the CSS and JS are never searched for placeholders.
  const [beforeCss, afterCss = ""] = html.split(placeholder("css"))
  const [beforeJs, afterJs = ""] = afterCss.split(placeholder("js"))
  return [beforeCss, css, beforeJs, js, afterJs]
})

/** Where the page imports the client from. */
export const clientPath = "/pair/client.js"

/**
 * `source` without its types. Node 22 announces `stripTypeScriptTypes` as experimental on each call;
 * that warning is dropped for the call (it is synchronous), every other warning still prints.
 */
const stripTypes = (source: string): string => {
  const emitWarning = process.emitWarning
  process.emitWarning = (() => {}) as typeof process.emitWarning
  try {
    return NodeModule.stripTypeScriptTypes(source)
  } finally {
    process.emitWarning = emitWarning
  }
}

/**
 * The JavaScript of `@gatehouse-auth/client`, found through the server's own dependency on it. A
 * package with its `src/index.ts` (this workspace, where nothing is built) is served from the
 * source with the types stripped; an installed one (no sources in the tarball) from `dist/index.js`.
 */
export const clientScript = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const root = path.dirname(NodeModule.createRequire(import.meta.url).resolve("@gatehouse-auth/client/package.json"))
  const source = path.join(root, "src", "index.ts")
  return (yield* fs.exists(source))
    ? stripTypes(yield* fs.readFileString(source))
    : yield* fs.readFileString(path.join(root, "dist", "index.js"))
})

export const contentSecurityPolicy = (nonce: string) =>
  [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src data:",
    // 'self' covers the same-origin ws:/wss: of /ws.
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; ")

export const securityHeaders = (nonce: string): Record<string, string> => ({
  "content-security-policy": contentSecurityPolicy(nonce),
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "cross-origin-opener-policy": "same-origin"
})

export interface Options {
  /**
   * The SHA-256 fingerprint of the certificate the server serves itself, shown on the page so
   * that the person can compare it with the one printed beside the pairing URL (hex and colons).
   */
  readonly tlsFingerprint?: string | undefined
}

/** The fingerprint paragraph of the page: empty (hidden) without one; only hex digits and colons get in. */
const fingerprintText = (fingerprint: string | undefined) =>
  fingerprint !== undefined && /^[0-9A-F:]{1,200}$/.test(fingerprint) ? fingerprint : ""

/** `GET /pair`. Needs `FileSystem` and `Path` when built. */
export const layerWith = (options: Options) =>
  HttpRouter.use(Effect.fnUntraced(function*(router) {
    const parts = yield* render
    const fingerprint = fingerprintText(options.tlsFingerprint)
    // Only the HTML parts carry the placeholder; the CSS and JS are left as they are.
    const [beforeCss, css, beforeJs, js, afterJs] = parts.map((part, i) =>
      i % 2 === 0 ? (part ?? "").replaceAll(placeholder("fingerprint"), fingerprint) : (part ?? "")
    )
    const client = yield* clientScript
    const nonceIn = (text: string, nonce: string) => text.replaceAll(placeholder("nonce"), nonce)
    // The page is how a person who has not paired yet pairs: public on purpose.
    const auth = yield* HttpAuth.HttpAuth

    yield* router.add(
      "GET",
      "/pair",
      auth.public(Effect.sync(() => {
        const nonce = Buffer.from(Hashing.randomBytes(18)).toString("base64")
        const body = nonceIn(beforeCss!, nonce) + css + nonceIn(beforeJs!, nonce) + js + nonceIn(afterJs!, nonce)
        return HttpServerResponse.text(body, {
          contentType: "text/html; charset=utf-8",
          headers: securityHeaders(nonce)
        })
      }))
    )

    // The client the page imports: public code, the same for everyone. `no-cache` makes the browser
    // revalidate it, so a new server version never runs under an old page or the reverse.
    yield* router.add(
      "GET",
      clientPath,
      auth.public(Effect.sync(() =>
        HttpServerResponse.text(client, {
          contentType: "text/javascript; charset=utf-8",
          headers: {
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "cross-origin-resource-policy": "same-origin"
          }
        })
      ))
    )
  }))

/** The page without a TLS fingerprint (a server behind a proxy, or on plain HTTP). */
export const layer = layerWith({})

/** `GET /` redirecting to the page: the reference server's home (an application serves its own). */
export const redirectRoot = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  yield* router.add("GET", "/", auth.public(Effect.succeed(HttpServerResponse.redirect("/pair", { status: 302 }))))
}))
