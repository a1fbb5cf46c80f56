/**
 * `@gatehouse-auth/client`: the browser half of Gatehouse, over `fetch` and `WebSocket` and nothing
 * else (no runtime dependency). Two factories:
 *
 * - `createAuthClient`: is this browser paired (`resolveGateState`, cached, one request for every
 *   concurrent caller), pairing with a code (`submitPairingCredential`, retried while the server is
 *   starting), the code in the address bar, WebSockets through a one-use ticket, logout.
 * - `createGuestClient`: the guest session (`POST /api/auth/guest-session`), its token held in
 *   memory only, one request per mode, a one-time migration of a token an older app kept in
 *   `localStorage`, and the server's rate limit honoured without asking it again.
 *
 * The bodies are the server's own contract: the types come from `@gatehouse-auth/http`'s `AuthApi`
 * (types only; nothing of it is in the JavaScript). Everything here is one file on purpose: the
 * reference server serves it to the `/pair` page as it is, with the types stripped.
 */
import type { AuthApi } from "@gatehouse-auth/http"

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** A session as the server shows it (never its token). */
export type SessionView = AuthApi.SessionView
/** How the server authenticates: `auth` in the session state. */
export type AuthDescriptor = AuthApi.Descriptor
/** The guest and its bearer token (`POST /api/auth/guest-session`). */
export type GuestSession = AuthApi.GuestSessionResponse
/** An error code of the server's contract, or one of the client's own. */
export type ErrorCode =
  | AuthApi.ErrorResponse["error"]["code"]
  /** `fetch` failed: the server cannot be reached. */
  | "network_error"
  /** The server answered something that is not its contract (an HTML error page, a proxy's 502). */
  | "invalid_response"
  /** The WebSocket did not open (the upgrade was refused or the connection failed). */
  | "socket_error"

/** What the client needs of a response; the `Response` of `fetch` is one. */
export interface ResponseLike {
  readonly status: number
  readonly ok: boolean
  readonly headers: { get(name: string): string | null }
  json(): Promise<unknown>
}

/** What the client passes to `fetch`. */
export interface RequestInitLike {
  method: string
  headers: Record<string, string>
  body?: string
  credentials: "include"
  cache: "no-store"
}

/** The `fetch` the client calls; the global one by default. */
export type FetchLike = (url: string, init: RequestInitLike) => Promise<ResponseLike>

/** What the guest client needs of `localStorage`: it only ever reads and deletes. */
export interface StorageLike {
  getItem(key: string): string | null
  removeItem(key: string): void
}

export interface ClientOptions {
  /**
   * Where the server is: an origin, optionally with a path (`http://127.0.0.1:3773/app`); `ws:`
   * and `wss:` are read as `http:` and `https:`. Default: `location.origin`.
   */
  readonly baseUrl?: string | undefined
  /** The `fetch` to use (default: the global one, looked up at each call). */
  readonly fetch?: FetchLike | undefined
}

export interface GuestClientOptions extends ClientOptions {
  /**
   * Where an older version of the app kept a guest token (default `gatehouse.guestToken`). Found
   * there, it is sent once as `legacyToken` and then deleted; the client never writes it.
   */
  readonly legacyStorageKey?: string | undefined
  /** The storage holding the legacy token: `localStorage` when there is one; `null` for none. */
  readonly storage?: StorageLike | null | undefined
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** Seconds from a `Retry-After` value (seconds, or an HTTP date); `undefined` when absent or unreadable. */
const retryAfterOf = (value: string | null): number | undefined => {
  if (value === null || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds))
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

/**
 * Every failure of the client. `message` is the server's `error.message` when it sent one (never
 * the raw body); `status` is the HTTP status, 0 when there was no answer; `retryAfterSeconds` is
 * the server's `Retry-After` (on 429 and 503), or what is left of a rate limit the client keeps.
 */
export class GatehouseClientError extends Error {
  override readonly name = "GatehouseClientError"
  readonly code: ErrorCode
  readonly status: number
  readonly retryAfterSeconds: number | undefined

  constructor(code: ErrorCode, message: string, status: number, retryAfterSeconds?: number, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.status = status
    this.retryAfterSeconds = retryAfterSeconds
  }

  /** The error a failed response stands for: its `{ error: { code, message } }`, or its status. */
  static async fromResponse(response: ResponseLike): Promise<GatehouseClientError> {
    const retryAfter = retryAfterOf(response.headers.get("retry-after"))
    let body: unknown
    try {
      body = await response.json()
    } catch {
      body = undefined
    }
    const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error
    return typeof error?.code === "string" && typeof error.message === "string"
      ? new GatehouseClientError(error.code as ErrorCode, error.message, response.status, retryAfter)
      : new GatehouseClientError(
        "invalid_response",
        `The server answered with status ${response.status}`,
        response.status,
        retryAfter
      )
  }
}

const networkError = (cause: unknown) =>
  new GatehouseClientError("network_error", "The server cannot be reached. Is it running?", 0, undefined, { cause })

const asClientError = (error: unknown): GatehouseClientError =>
  error instanceof GatehouseClientError
    ? error
    : new GatehouseClientError("invalid_response", "The server's answer could not be read", 0, undefined, {
      cause: error
    })

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** The browser globals the client may use; each is looked up when needed, and may be absent. */
interface Globals {
  readonly location?: { readonly origin: string; readonly href: string }
  readonly history?: { readonly state: unknown; replaceState(data: unknown, unused: string, url: string): void }
  readonly localStorage?: StorageLike
  readonly fetch?: FetchLike
  readonly WebSocket?: new(url: string, protocols?: string | Array<string>) => WebSocket
}
const globals = globalThis as Globals

const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

/** The base for `fetch`: `ws:`/`wss:` read as `http:`/`https:`, the path kept, no trailing slash. */
const httpBase = (baseUrl: string | undefined): string => {
  const raw = baseUrl ?? globals.location?.origin
  if (raw === undefined) throw new TypeError("Gatehouse client: pass baseUrl (there is no location here)")
  const url = new URL(raw)
  if (url.protocol === "ws:") url.protocol = "http:"
  else if (url.protocol === "wss:") url.protocol = "https:"
  return url.origin + url.pathname.replace(/\/+$/, "")
}

/** The JSON body of a response, or an `invalid_response` error when it is not JSON. */
const readJson = async <A>(response: ResponseLike): Promise<A> => {
  try {
    return await response.json() as A
  } catch (cause) {
    throw new GatehouseClientError("invalid_response", "The server's answer is not JSON", response.status, undefined, {
      cause
    })
  }
}

const makeHttp = (options: ClientOptions) => {
  const base = httpBase(options.baseUrl)
  const doFetch: FetchLike = (url, init) => {
    const fetch = options.fetch ?? globals.fetch
    if (fetch === undefined) throw new TypeError("Gatehouse client: no fetch here; pass one")
    return fetch(url, init)
  }
  /** One request; a network failure is a `network_error`. POST bodies are always JSON. */
  const send = async (method: string, path: string, body?: unknown): Promise<ResponseLike> => {
    // `include`: the session and guest cookies go to the server even when baseUrl is another
    // origin (a desktop shell's window); for the same origin it is the same as `same-origin`.
    const init: RequestInitLike = {
      method,
      headers: { accept: "application/json" },
      credentials: "include",
      cache: "no-store"
    }
    if (body !== undefined) {
      init.headers["content-type"] = "application/json"
      init.body = JSON.stringify(body)
    }
    try {
      return await doFetch(base + path, init)
    } catch (cause) {
      throw networkError(cause)
    }
  }
  /** `send`, then the JSON body of a 2xx (`undefined` for 204), or the error of anything else. */
  const json = async <A>(method: string, path: string, body?: unknown): Promise<A> => {
    const response = await send(method, path, body)
    if (!response.ok) throw await GatehouseClientError.fromResponse(response)
    return response.status === 204 ? undefined as A : readJson<A>(response)
  }
  return { base, send, json }
}

// ---------------------------------------------------------------------------------------------
// The auth client
// ---------------------------------------------------------------------------------------------

/** Whether this browser is paired, and how the server authenticates. */
export type GateState =
  | { readonly status: "authenticated"; readonly session: SessionView; readonly auth: AuthDescriptor }
  | {
    readonly status: "requires-pairing"
    readonly auth: AuthDescriptor
    /** `ambiguous_cookie`: another local page set a second session cookie; both were cleared. */
    readonly problem?: "ambiguous_cookie"
  }
  /** The server did not answer with a session state (not running, or an error status). */
  | { readonly status: "unreachable"; readonly error: GatehouseClientError }

/** The outcome of a pairing code: the new session, or the server's refusal in its own words. */
export type PairingResult =
  | { readonly ok: true; readonly session: SessionView }
  | {
    readonly ok: false
    readonly code: ErrorCode
    readonly message: string
    readonly status: number
    readonly retryAfterSeconds?: number
  }

/** How long `submitPairingCredential` keeps retrying a server that is starting or overloaded. */
const bootstrapRetryWindow = 15_000
const transientStatuses = [502, 503, 504]

export interface AuthClient {
  /**
   * `GET /api/auth/session`, cached: concurrent and later callers share one answer until a pairing
   * or a logout (or a 401 from this client) drops it, or `{ refresh: true }` asks again. An
   * `unreachable` answer is never kept. Never rejects.
   */
  resolveGateState(options?: { readonly refresh?: boolean }): Promise<GateState>
  /**
   * `POST /api/auth/bootstrap` with a pairing code (cookie flow: the token never reaches the
   * script). A network failure or a 502/503/504 is retried with backoff for up to 15 seconds; a
   * 4xx is answered at once. Never rejects.
   */
  submitPairingCredential(code: string): Promise<PairingResult>
  /** The pairing code in `url` (default: the address bar): `#token=` first, then `?token=`. */
  readPairingTokenFromUrl(url?: string | URL): string | undefined
  /** Removes `token` from the address bar's fragment and query with `history.replaceState` (no reload). */
  stripPairingTokenFromUrl(): void
  /**
   * A WebSocket to `path` (`/ws`), open: a one-use ticket from `POST /api/auth/ws-ticket` rides in
   * its query string (`wsTicket`), the only place the client puts a credential in a URL.
   */
  openSocket(path: string, protocols?: string | Array<string>): Promise<WebSocket>
  /** `POST /api/auth/logout`: the session is revoked and its cookie cleared. */
  logout(): Promise<void>
}

export const createAuthClient = (options: ClientOptions = {}): AuthClient => {
  const http = makeHttp(options)
  let gate: Promise<GateState> | undefined

  /** A 401 from an authenticated call means the cached state is stale. */
  const authenticated = async <A>(method: string, path: string): Promise<A> => {
    try {
      return await http.json<A>(method, path, {})
    } catch (error) {
      if (error instanceof GatehouseClientError && error.status === 401) gate = undefined
      throw error
    }
  }

  const resolveGateState = (request: { readonly refresh?: boolean } = {}): Promise<GateState> => {
    if (gate !== undefined && request.refresh !== true) return gate
    const mine = http.json<AuthApi.SessionStateResponse>("GET", "/api/auth/session").then(
      (state): GateState =>
        state.authenticated && state.session !== undefined
          ? { status: "authenticated", session: state.session, auth: state.auth }
          : state.problem === undefined
          ? { status: "requires-pairing", auth: state.auth }
          : { status: "requires-pairing", auth: state.auth, problem: state.problem },
      (error): GateState => {
        // Never cached: the next caller asks again.
        if (gate === mine) gate = undefined
        return { status: "unreachable", error: asClientError(error) }
      }
    )
    gate = mine
    return mine
  }

  const submitPairingCredential = async (code: string): Promise<PairingResult> => {
    const deadline = Date.now() + bootstrapRetryWindow
    for (let delay = 250;; delay = Math.min(delay * 2, 4000)) {
      try {
        const body = await http.json<AuthApi.BootstrapResponse>(
          "POST",
          "/api/auth/bootstrap",
          {
            credential: code
          } satisfies AuthApi.BootstrapRequest
        )
        gate = undefined
        return { ok: true, session: body.session }
      } catch (caught) {
        const error = asClientError(caught)
        const transient = error.code === "network_error" || transientStatuses.includes(error.status)
        const wait = Math.max(delay, (error.retryAfterSeconds ?? 0) * 1000)
        if (!transient || Date.now() + wait > deadline) {
          const { code, message, status, retryAfterSeconds } = error
          return retryAfterSeconds === undefined
            ? { ok: false, code, message, status }
            : { ok: false, code, message, status, retryAfterSeconds }
        }
        await sleep(wait)
      }
    }
  }

  const readPairingTokenFromUrl = (url?: string | URL): string | undefined => {
    const href = url ?? globals.location?.href
    if (href === undefined) return undefined
    const parsed = new URL(href, "http://localhost")
    const token = new URLSearchParams(parsed.hash.slice(1)).get("token") || parsed.searchParams.get("token")
    return token?.trim() || undefined
  }

  const stripPairingTokenFromUrl = (): void => {
    const { location, history } = globals
    if (location === undefined || history === undefined) return
    const url = new URL(location.href)
    const hash = new URLSearchParams(url.hash.slice(1))
    if (!hash.has("token") && !url.searchParams.has("token")) return
    hash.delete("token")
    url.searchParams.delete("token")
    const fragment = hash.toString()
    url.hash = fragment === "" ? "" : `#${fragment}`
    history.replaceState(history.state, "", url.pathname + url.search + url.hash)
  }

  const openSocket = async (path: string, protocols?: string | Array<string>): Promise<WebSocket> => {
    const Socket = globals.WebSocket
    if (Socket === undefined) throw new TypeError("Gatehouse client: no WebSocket here")
    const { ticket } = await authenticated<AuthApi.WebSocketTicketResponse>("POST", "/api/auth/ws-ticket")
    const url = new URL(http.base + path)
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
    url.searchParams.set("wsTicket", ticket)
    const socket = protocols === undefined ? new Socket(url.href) : new Socket(url.href, protocols)
    return new Promise((resolve, reject) => {
      const settle = (event: Event) => {
        socket.removeEventListener("open", settle)
        socket.removeEventListener("error", settle)
        socket.removeEventListener("close", settle)
        if (event.type === "open") resolve(socket)
        else reject(new GatehouseClientError("socket_error", "The live connection could not be opened", 0))
      }
      socket.addEventListener("open", settle)
      socket.addEventListener("error", settle)
      socket.addEventListener("close", settle)
    })
  }

  const logout = async (): Promise<void> => {
    await authenticated<void>("POST", "/api/auth/logout")
    gate = undefined
  }

  return {
    resolveGateState,
    submitPairingCredential,
    readPairingTokenFromUrl,
    stripPairingTokenFromUrl,
    openSocket,
    logout
  }
}

// ---------------------------------------------------------------------------------------------
// The guest client
// ---------------------------------------------------------------------------------------------

/** The default `legacyStorageKey`. */
export const defaultLegacyStorageKey = "gatehouse.guestToken"
/** A token is fetched again when less than this is left of it (5 minutes). */
const refreshMargin = 5 * 60_000
const guestPath = "/api/auth/guest-session"

type Mode = "lookup_or_create" | "lookup_only"

export interface GuestClient {
  /** The guest, made if there is none yet (`lookup_or_create`); cached until 5 minutes before it expires. */
  getToken(): Promise<GuestSession>
  /** The guest if there is one (`lookup_only`): never makes one; `undefined` when the server has none (204). */
  getExisting(): Promise<GuestSession | undefined>
  /** A new token now, whatever is cached; a request still under way is no longer listened to. */
  forceRefresh(): Promise<GuestSession>
  /** Forgets the token here (memory only); an answer still under way is dropped when it comes. */
  clear(): void
  /** `POST /api/auth/guest-session/revoke`: the server ends the guest; the token here is forgotten first. */
  revoke(): Promise<void>
  /**
   * Hands the existing guest to the app's `merge` (which moves the guest's data to the paired
   * account), up to `attempts` (3) times with backoff (1 s, 2 s, ...). Resolves `true` once merged
   * (a later call does nothing and resolves `true`), `false` when there is no guest; rejects with
   * the last error when every attempt failed.
   */
  mergeGuest(
    merge: (token: string, guest: GuestSession) => Promise<unknown>,
    options?: { readonly attempts?: number }
  ): Promise<boolean>
}

export const createGuestClient = (options: GuestClientOptions = {}): GuestClient => {
  const http = makeHttp(options)
  const key = options.legacyStorageKey ?? defaultLegacyStorageKey
  let storage: StorageLike | null | undefined = options.storage
  if (storage === undefined) {
    try {
      storage = globals.localStorage
    } catch {
      // A sandboxed frame or blocked storage throws on access: there is nothing to migrate.
    }
  }

  let current: GuestSession | undefined
  /** Moves on every clear and refresh: an answer to an older request is not kept. */
  let generation = 0
  const inFlight: { [mode in Mode]?: Promise<GuestSession | undefined> } = {}
  /** Until when the server's 429 told us to wait (ms since the epoch). */
  let blockedUntil = 0
  let merged = false
  let merging: Promise<boolean> | undefined

  const readLegacy = (): string | undefined => {
    try {
      const value = storage?.getItem(key)
      // Longer than any token: the server would refuse the whole request (400), every time.
      return value && value.length <= 4096 ? value : undefined
    } catch {
      return undefined
    }
  }
  /** After a definitive answer only; and only if it still holds the value that was sent. */
  const dropLegacy = (sent: string) => {
    try {
      if (storage?.getItem(key) === sent) storage.removeItem(key)
    } catch {
      // Nothing to do: it is sent again next time, and the server re-binds at most once.
    }
  }

  const refusal = (): GatehouseClientError | undefined => {
    const left = blockedUntil - Date.now()
    return left > 0
      ? new GatehouseClientError(
        "rate_limited",
        "Too many guest requests; try again later",
        429,
        Math.ceil(left / 1000)
      )
      : undefined
  }

  const fresh = (guest: GuestSession | undefined): guest is GuestSession =>
    guest !== undefined && Date.now() < guest.expiresAt - refreshMargin

  const ask = async (mode: Mode, startedIn: number): Promise<GuestSession | undefined> => {
    const legacyToken = readLegacy()
    const body: AuthApi.GuestSessionRequest = legacyToken === undefined ? { mode } : { mode, legacyToken }
    const response = await http.send("POST", guestPath, body)
    if (!response.ok) {
      const error = await GatehouseClientError.fromResponse(response)
      if (response.status === 429) blockedUntil = Date.now() + (error.retryAfterSeconds ?? 1) * 1000
      // The guest is over: a token kept here would still be offered to the app.
      if (error.code === "guest_revoked" && startedIn === generation) current = undefined
      throw error
    }
    let guest: GuestSession | undefined
    if (response.status === 204) {
      if (mode === "lookup_or_create") {
        throw new GatehouseClientError("invalid_response", "The server made no guest", response.status)
      }
    } else {
      guest = await readJson<GuestSession>(response)
    }
    // 200, or 204 to lookup_only: the server has answered for the legacy token.
    if (legacyToken !== undefined) dropLegacy(legacyToken)
    if (startedIn === generation) current = guest
    return guest
  }

  const request = (mode: Mode): Promise<GuestSession | undefined> => {
    const pending = inFlight[mode]
    if (pending !== undefined) return pending
    const refused = refusal()
    if (refused !== undefined) return Promise.reject(refused)
    const mine = ask(mode, generation)
    inFlight[mode] = mine
    // Only its own: after a clear or a refresh the slot may already hold a newer request.
    const release = () => {
      if (inFlight[mode] === mine) delete inFlight[mode]
    }
    mine.then(release, release)
    return mine
  }

  const clear = (): void => {
    generation++
    current = undefined
    delete inFlight.lookup_or_create
    delete inFlight.lookup_only
  }

  const getToken = (): Promise<GuestSession> =>
    fresh(current) ? Promise.resolve(current) : request("lookup_or_create") as Promise<GuestSession>

  const getExisting = (): Promise<GuestSession | undefined> =>
    fresh(current) ? Promise.resolve(current) : request("lookup_only")

  const forceRefresh = (): Promise<GuestSession> => {
    clear()
    return request("lookup_or_create") as Promise<GuestSession>
  }

  const revoke = async (): Promise<void> => {
    clear()
    const refused = refusal()
    if (refused !== undefined) throw refused
    const response = await http.send("POST", `${guestPath}/revoke`, {})
    if (!response.ok) {
      const error = await GatehouseClientError.fromResponse(response)
      if (response.status === 429) blockedUntil = Date.now() + (error.retryAfterSeconds ?? 1) * 1000
      throw error
    }
  }

  const mergeGuest: GuestClient["mergeGuest"] = (merge, mergeOptions = {}) => {
    if (merged) return Promise.resolve(true)
    if (merging !== undefined) return merging
    const attempts = Math.max(1, mergeOptions.attempts ?? 3)
    const mine = (async () => {
      for (let attempt = 1;; attempt++) {
        try {
          const guest = await getExisting()
          if (guest === undefined) return false
          await merge(guest.token, guest)
          merged = true
          return true
        } catch (error) {
          if (attempt >= attempts) throw error
          await sleep(1000 * 2 ** (attempt - 1))
        }
      }
    })()
    merging = mine
    const release = () => {
      if (merging === mine) merging = undefined
    }
    mine.then(release, release)
    return mine
  }

  return { getToken, getExisting, forceRefresh, clear, revoke, mergeGuest }
}
