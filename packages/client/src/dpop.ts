/**
 * `@gatehouse-auth/client/dpop`: credentials bound to a key this client holds (DPoP, RFC 9449), over
 * WebCrypto and `fetch` only. A token copied out of the app (a log line, a backup, a proxy) is
 * useless without the private key, and the key cannot be copied out: it is a non-extractable
 * P-256 ECDSA key, kept as a `CryptoKey` (IndexedDB stores it as is; its bytes never reach script).
 *
 * - Every request carries a fresh proof: a compact JWS (`typ: dpop+jwt`, `ES256`, the public `jwk`)
 *   over `htm`, `htu` (the URL without query and fragment), `iat`, a random 128-bit `jti`, `ath`
 *   (the SHA-256 of the token) when a token rides along, and the server's nonce.
 * - The server's `DPoP-Nonce` is remembered per origin; an answer `use_dpop_nonce` (a 401 challenge
 *   at a resource, a 400 JSON error at a token endpoint) is retried once with the new nonce, never
 *   more, so a server that keeps refusing cannot make the client loop.
 * - `pair` exchanges a pairing code at `POST /api/auth/bootstrap/bearer` with a proof: the server
 *   binds the new session to this key and answers `tokenType: "DPoP"`.
 *
 * A separate entry point so that apps without DPoP do not ship it; no runtime dependency.
 */
import type { AuthApi } from "@gatehouse-auth/http"
import { type ErrorCode, GatehouseClientError } from "./index.ts"

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/** A WebCrypto key, as the platform's `crypto.subtle` names it (the DOM's or Node's `CryptoKey`). */
export type DpopKey = Parameters<typeof crypto.subtle.sign>[1]
/** A P-256 ECDSA key pair whose private key signs the proofs. */
export interface DpopKeyPair {
  readonly publicKey: DpopKey
  readonly privateKey: DpopKey
}

/**
 * Where the key pair is kept. `save` may keep the first pair ever saved (two tabs making a key at
 * once): the client uses what `load` answers after its `save`.
 */
export interface DpopKeyStore {
  load(): Promise<DpopKeyPair | undefined>
  save(pair: DpopKeyPair): Promise<void>
}

/** A new key pair: P-256, the private key non-extractable and for signing only. */
export const generateKeyPair = (): Promise<DpopKeyPair> =>
  crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]) as Promise<DpopKeyPair>

/** A store in this process's memory: the key lives as long as the store. */
export const memoryKeyStore = (): DpopKeyStore => {
  let kept: DpopKeyPair | undefined
  return {
    load: async () => kept,
    save: async (pair) => {
      kept ??= pair
    }
  }
}

/** The part of IndexedDB the store uses (the page's `indexedDB`). */
interface IdbRequest<A = unknown> {
  readonly result: A
  readonly error: unknown
  onsuccess: (() => void) | null
  onerror: ((event: { preventDefault(): void }) => void) | null
}
interface IdbStore {
  get(key: string): IdbRequest
  add(value: unknown, key: string): IdbRequest
}
interface IdbDatabase {
  createObjectStore(name: string): unknown
  transaction(name: string, mode: "readonly" | "readwrite"): {
    objectStore(name: string): IdbStore
    oncomplete: (() => void) | null
    onabort: (() => void) | null
    readonly error: unknown
  }
  close(): void
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null
}
interface Globals {
  readonly indexedDB?: { open(name: string, version: number): IdbOpenRequest }
  readonly location?: { readonly origin: string; readonly href: string }
}
const globals = globalThis as Globals

const settle = <A>(request: IdbRequest<A>) =>
  new Promise<A>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result)
    request.onerror = (event) => {
      // Handled here (the promise rejects): not reported to the page as an uncaught error.
      event.preventDefault()
      reject(request.error)
    }
  })

/**
 * A store in the page's IndexedDB (database `gatehouse-dpop` unless named, object store `keys`,
 * record `pair`): the `CryptoKeyPair` is stored as is, and structured cloning keeps the private
 * key non-extractable. Saving never replaces a stored pair (IndexedDB's `add`).
 */
export const indexedDbKeyStore = (database = "gatehouse-dpop"): DpopKeyStore => {
  const run = async <A>(mode: "readonly" | "readwrite", use: (store: IdbStore) => IdbRequest<A>): Promise<A> => {
    const idb = globals.indexedDB
    if (idb === undefined) throw new TypeError("Gatehouse DPoP: no indexedDB here; pass a keyStore")
    const open = idb.open(database, 1)
    open.onupgradeneeded = () => open.result.createObjectStore("keys")
    const db = await settle(open)
    try {
      const transaction = db.transaction("keys", mode)
      // Done when the transaction is: a save has then been committed for every later reader.
      const done = new Promise<void>((resolve, reject) => {
        transaction.oncomplete = () => resolve()
        transaction.onabort = () => reject(transaction.error)
      })
      const [result] = await Promise.all([settle(use(transaction.objectStore("keys"))), done])
      return result
    } finally {
      db.close()
    }
  }
  return {
    load: () => run("readonly", (store) => store.get("pair") as IdbRequest<DpopKeyPair | undefined>),
    save: (pair) =>
      run("readwrite", (store) => store.add(pair, "pair")).then(
        () => {},
        (error) => {
          // Another tab saved its pair first: that one is used.
          if ((error as { name?: unknown } | null)?.name !== "ConstraintError") throw error
        }
      )
  }
}

// ---------------------------------------------------------------------------------------------
// Proofs
// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder()

/** Canonical base64url: the URL alphabet, no padding. */
const base64url = (bytes: ArrayBuffer | Uint8Array): string =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")

const encodeJson = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)))

const sha256 = async (text: string) => base64url(await crypto.subtle.digest("SHA-256", encoder.encode(text)))

/** The public key as the proof's header carries it. */
export interface DpopPublicJwk {
  readonly kty: "EC"
  readonly crv: "P-256"
  readonly x: string
  readonly y: string
}

interface KeyInfo {
  readonly jwk: DpopPublicJwk
  readonly header: string
  readonly thumbprint: string
}
const infos = new WeakMap<object, Promise<KeyInfo>>()

/** The public JWK, the encoded proof header and the thumbprint of a key pair, computed once. */
const keyInfo = (pair: DpopKeyPair): Promise<KeyInfo> => {
  let info = infos.get(pair.publicKey)
  if (info === undefined) {
    info = crypto.subtle.exportKey("jwk", pair.publicKey).then(async ({ x, y }) => {
      const jwk: DpopPublicJwk = { kty: "EC", crv: "P-256", x: x!, y: y! }
      return {
        jwk,
        header: encodeJson({ typ: "dpop+jwt", alg: "ES256", jwk }),
        // RFC 7638: the required members in lexicographic order, no whitespace.
        thumbprint: await sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
      }
    })
    infos.set(pair.publicKey, info)
  }
  return info
}

/** The RFC 7638 SHA-256 thumbprint of the pair's public key (base64url): the server's `jkt`. */
export const thumbprintOf = async (pair: DpopKeyPair): Promise<string> => (await keyInfo(pair)).thumbprint

/** What one proof is for. */
export interface ProofRequest {
  /** The request method (`fetch`'s normalisation applies: `post` is `POST`, `patch` stays `patch`). */
  readonly method: string
  /** The request URL (relative ones against the page's address); query and fragment are dropped. */
  readonly url: string | URL
  /** The token sent with the request: the proof then carries `ath`. */
  readonly accessToken?: string | undefined
  /** The server's latest `DPoP-Nonce`. */
  readonly nonce?: string | undefined
}

/** The methods `fetch` upper-cases (every other one is sent as written). */
const normalMethods = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]

/** A DPoP proof (compact JWS, ES256) for one request, signed by `pair`. */
export const createProof = async (pair: DpopKeyPair, request: ProofRequest): Promise<string> => {
  const { header } = await keyInfo(pair)
  const upper = request.method.toUpperCase()
  const htu = new URL(request.url, globals.location?.href)
  htu.search = ""
  htu.hash = ""
  const payload = encodeJson({
    jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: normalMethods.includes(upper) ? upper : request.method,
    htu: htu.href,
    iat: Math.floor(Date.now() / 1000),
    ...(request.accessToken === undefined ? {} : { ath: await sha256(request.accessToken) }),
    ...(request.nonce === undefined ? {} : { nonce: request.nonce })
  })
  const input = `${header}.${payload}`
  // WebCrypto's ECDSA signature is already JWS's form: r and s, 32 bytes each.
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    pair.privateKey,
    encoder.encode(input)
  )
  return `${input}.${base64url(signature)}`
}

// ---------------------------------------------------------------------------------------------
// Nonce challenges
// ---------------------------------------------------------------------------------------------

/** Whether a `WWW-Authenticate` value has a `DPoP` challenge with `error="use_dpop_nonce"`. */
export const isNonceChallenge = (header: string | null): boolean => {
  let scheme = ""
  // A token alone starts a challenge (its scheme); `name=value` is a parameter of the current one.
  for (
    const [, name, assigned, value = ""] of (header ?? "").matchAll(
      /([\w!#$%&'*+.^`|~-]+)\s*(=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*))?/g
    )
  ) {
    if (assigned === undefined) scheme = name!.toLowerCase()
    else if (
      scheme === "dpop" && name!.toLowerCase() === "error" &&
      value.replace(/^"([^]*)"$/, "$1").replace(/\\(.)/g, "$1") === "use_dpop_nonce"
    ) return true
  }
  return false
}

const jsonType = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i

/** Whether a response asks for a (new) nonce: a 401 challenge, or a 400 JSON `{ error: "use_dpop_nonce" }`. */
const asksForNonce = async (response: Response): Promise<boolean> => {
  if (response.status === 401) return isNonceChallenge(response.headers.get("www-authenticate"))
  if (response.status !== 400 || !jsonType.test(response.headers.get("content-type") ?? "")) return false
  try {
    // A clone: the caller still gets the whole body if this answer is handed back.
    return ((await response.clone().json()) as { error?: unknown } | null)?.error === "use_dpop_nonce"
  } catch {
    return false
  }
}

/** A body `fetch` reads as it sends (a stream or an async iterable): it cannot be sent twice. */
const isStream = (body: unknown): boolean =>
  typeof body === "object" && body !== null &&
  (typeof (body as { getReader?: unknown }).getReader === "function" || Symbol.asyncIterator in body)

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

export interface DpopClientOptions {
  /** Where the key pair is kept: IndexedDB when the page has it, else this process's memory. */
  readonly keyStore?: DpopKeyStore | undefined
  /** The `fetch` to use (default: the global one, looked up at each call). */
  readonly fetch?: ((request: Request) => Promise<Response>) | undefined
}

/** What `pair` answers: the token and how to present it (`DPoP` when the server bound it). */
export type DpopPairing = Omit<AuthApi.BearerBootstrapResponse, "tokenType"> & {
  readonly tokenType: "DPoP" | "Bearer"
}

export interface DpopPairOptions {
  /** Where the server is: an origin, optionally with a path. Default: `location.origin`. */
  readonly baseUrl?: string | undefined
  /** How the session is listed (a label for people). */
  readonly client?: AuthApi.BearerBootstrapRequest["client"]
}

export interface DpopClient {
  /**
   * `fetch` with a proof: `DPoP` on every request, and `Authorization: DPoP <token>` when `token`
   * is given. Retries once on `use_dpop_nonce` with the server's new nonce, except when `init.body`
   * is a stream or an async iterable: that is sent once, and the `use_dpop_nonce` answer is
   * returned (the nonce is remembered, so sending again works).
   */
  fetch(
    input: string | URL | Request,
    init?: RequestInit,
    options?: { readonly token?: string | undefined }
  ): Promise<Response>
  /** A proof for a request made some other way (a nonce remembered for its origin is used by default). */
  proof(request: ProofRequest): Promise<string>
  /** The RFC 7638 thumbprint of this client's key (what the server lists as the session's `jkt`). */
  thumbprint(): Promise<string>
  /** The public key, as proofs carry it. */
  publicJwk(): Promise<DpopPublicJwk>
  /**
   * `POST /api/auth/bootstrap/bearer` with a pairing code and a proof: a session bound to this key.
   * Rejects with `GatehouseClientError` (the server's `error`, or `network_error`).
   */
  pair(code: string, options?: DpopPairOptions): Promise<DpopPairing>
}

export const createDpopClient = (options: DpopClientOptions = {}): DpopClient => {
  const store = options.keyStore ?? (globals.indexedDB === undefined ? memoryKeyStore() : indexedDbKeyStore())
  const nonces = new Map<string, string>()
  let pending: Promise<DpopKeyPair> | undefined

  /** The pair: loaded, or made and saved once; a failure is not kept (the next call tries again). */
  const keys = (): Promise<DpopKeyPair> =>
    pending ??= (async () => {
      const found = await store.load()
      if (found !== undefined) return found
      const made = await generateKeyPair()
      await store.save(made)
      return (await store.load()) ?? made
    })().catch((error) => {
      pending = undefined
      throw error
    })

  const originOf = (url: string | URL) => new URL(url, globals.location?.href).origin

  const proof = async (request: ProofRequest): Promise<string> =>
    createProof(await keys(), { nonce: nonces.get(originOf(request.url)), ...request })

  const send = async (request: Request, token: string | undefined) => {
    const origin = originOf(request.url)
    const nonce = nonces.get(origin)
    request.headers.set("dpop", await proof({ method: request.method, url: request.url, accessToken: token, nonce }))
    if (token !== undefined) request.headers.set("authorization", `DPoP ${token}`)
    const fetch = options.fetch ?? globalThis.fetch
    const response = await fetch(request)
    const next = response.headers.get("dpop-nonce")
    if (next !== null && next !== "") nonces.set(origin, next)
    // Worth a retry only with a nonce other than the one just refused.
    return { response, renewed: next !== null && next !== "" && next !== nonce }
  }

  const dpopFetch: DpopClient["fetch"] = async (input, init, { token } = {}) => {
    const request = new Request(input, init)
    if (isStream(init?.body)) return (await send(request, token)).response
    // The first attempt goes out as a clone, so the request (and its body) is still there to retry.
    const { response, renewed } = await send(request.clone(), token)
    if (!renewed || !(await asksForNonce(response))) return response
    await response.body?.cancel().catch(() => {})
    return (await send(request, token)).response
  }

  const pair = async (code: string, pairOptions: DpopPairOptions = {}): Promise<DpopPairing> => {
    const base = pairOptions.baseUrl ?? globals.location?.origin
    if (base === undefined) throw new TypeError("Gatehouse DPoP: pass baseUrl (there is no location here)")
    const body: AuthApi.BearerBootstrapRequest = pairOptions.client === undefined
      ? { credential: code }
      : { credential: code, client: pairOptions.client }
    let response: Response
    try {
      response = await dpopFetch(new URL(base).href.replace(/\/*$/, "/api/auth/bootstrap/bearer"), {
        method: "POST",
        headers: { accept: "application/json", "content-type": "application/json" },
        body: JSON.stringify(body)
      })
    } catch (cause) {
      throw new GatehouseClientError("network_error", "The server cannot be reached. Is it running?", 0, undefined, {
        cause
      })
    }
    if (response.ok) {
      return await response.json().catch((cause: unknown) => {
        throw new GatehouseClientError(
          "invalid_response",
          "The server's answer is not JSON",
          response.status,
          undefined,
          {
            cause
          }
        )
      }) as DpopPairing
    }
    // Token endpoints answer in RFC 6749's shape (`error`, `error_description`); the rest in Gatehouse's.
    const refusal = await response.clone().json().catch(() => undefined) as
      | { error?: unknown; error_description?: unknown }
      | undefined
    const { error, error_description: description } = refusal ?? {}
    if (typeof error === "string") {
      const message = typeof description === "string" ? description : `The server refused the pairing (${error})`
      throw new GatehouseClientError(error as ErrorCode, message, response.status)
    }
    throw await GatehouseClientError.fromResponse(response)
  }

  return {
    fetch: dpopFetch,
    proof,
    thumbprint: async () => thumbprintOf(await keys()),
    publicJwk: async () => (await keyInfo(await keys())).jwk,
    pair
  }
}
