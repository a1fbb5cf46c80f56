/**
 * What the `gatehouse pair | sessions | guests | keys | mcp` commands do: they open the same state as a
 * running server (the SQLite file in the state directory, or the PostgreSQL database) and act on it
 * directly. A running server sees the result on its next request: it reads every session from the
 * store on each request (so a revoked session is refused at once, and its sockets close and its MCP
 * credentials die within a second) and picks up a rotated signing key on its next keyring refresh.
 * Revoking a session here revokes the pairing links it made, in the store, before the command ends.
 *
 * `mcp list | revoke` are the exception: MCP credentials live only in the running server's memory,
 * so these reach them through that server's own HTTP API (its address from `server.json`), with a
 * session made for the one call (exactly the scope it needs, a 1-minute token, revoked afterwards).
 */
import {
  AccessTokens,
  BootstrapCredentialService,
  Crockford,
  Durations,
  GuestStore,
  Ids,
  OAuthAuthorizationServer,
  Scopes,
  SessionCredentialService,
  SessionStore,
  SigningKeyring
} from "@gatehouse-auth/core"
import { AuthApi } from "@gatehouse-auth/http"
import { Clock, Console, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { CliError } from "effect/cli"
import * as HelloRoutes from "./HelloRoutes.ts"
import * as PinnedRequest from "./PinnedRequest.ts"
import * as Serve from "./Serve.ts"
import * as ServerFile from "./ServerFile.ts"
import * as Stores from "./Stores.ts"
import * as Terminal from "./Terminal.ts"

export interface StateInput {
  readonly stateDir: string
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly hosted: boolean
}

const { usage } = Serve

/** Core services (no HTTP) over the state; a database that cannot be used is one clear line. */
const withState = <A, E, R>(
  input: StateInput,
  use: (
    services: Context.Context<
      | BootstrapCredentialService.BootstrapCredentialService
      | SessionCredentialService.SessionCredentialService
      | SigningKeyring.SigningKeyring
      | GuestStore.GuestStore
      | SessionStore.SessionStore
    >
  ) => Effect.Effect<A, E, R>,
  sessionOptions: SessionCredentialService.Options = {}
) =>
  Effect.scoped(Effect.gen(function*() {
    // The OAuth cascade too: `sessions revoke` of a browser session ends the OAuth grants it approved.
    const layer = Layer.effectDiscard(OAuthAuthorizationServer.revocationCascade).pipe(
      Layer.provideMerge(BootstrapCredentialService.layer),
      Layer.provideMerge(SessionCredentialService.layerConfig(sessionOptions))
    ).pipe(
      Layer.provideMerge(Stores.layer({
        stateDir: input.stateDir,
        databaseUrl: Option.getOrUndefined(input.databaseUrl),
        hosted: input.hosted,
        // A command runs for a moment: no background refresh.
        keyRefreshInterval: Duration.days(1)
      }))
    )
    return yield* use(yield* Layer.build(layer))
  })).pipe(
    // A database that cannot be used, a store or keyring failure: one line, never a stack trace.
    Effect.mapError((error) => error instanceof CliError.UserError ? error : usage((error as Error).message))
  )

/**
 * The running server's announcement; a state directory or `server.json` that is not ours, or a file
 * that is not what a server writes (a `baseUrl` that is not an origin), is one line and stops the
 * command before it prints a URL or opens anything.
 */
const readServerFile = (stateDir: string) =>
  ServerFile.read(stateDir).pipe(Effect.mapError((error) => usage(error.message)))

const time = (millis: number) => new Date(millis).toISOString().replace(/\.\d+Z$/, "Z")

/** Columns padded to their widest cell (the cells are escaped already). */
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n")
}

export interface PairInput extends StateInput {
  readonly label: Option.Option<string>
  readonly ttl: string
  readonly scopes: ReadonlyArray<string>
  /** Grant the administrative bundle (without it, and without `scopes`: the standard bundle). */
  readonly admin: boolean
  readonly uses: number
  readonly url: Option.Option<string>
}

/** The administrative bundle of the reference server: what the CLI, as the owner, may grant. */
const administrative = Scopes.administrative(HelloRoutes.applicationScopes)
/**
 * The standard bundle: what a link grants unless asked for more. A link is often made for a phone
 * or a guest; administering the server (pairing others, revoking sessions) is asked for by name.
 */
const standard = Scopes.standard(HelloRoutes.applicationScopes)

/** `gatehouse pair`: a new pairing link, printed as URL, code and QR code. */
export const pair = (input: PairInput) =>
  Effect.gen(function*() {
    const ttl = Durations.parse(input.ttl)
    if (ttl === undefined || Duration.toMillis(ttl) > Duration.toMillis(Duration.days(1))) {
      return yield* usage(
        `--ttl must be a duration from 100 millis to 1 day, like "10 minutes" or 10m (got "${input.ttl}")`
      )
    }
    // `--scopes a --scopes b`, `--scopes a,b` and `--scopes "a b"` all mean the same.
    const asked = [...new Set(input.scopes.flatMap((value) => value.split(/[\s,]+/)).filter((scope) => scope !== ""))]
    const bad = asked.find((scope) => !Scopes.isScope(scope))
    if (bad !== undefined) return yield* usage(`--scopes: "${bad}" is not a scope like read:hello`)
    if (input.admin && asked.length > 0) return yield* usage("--admin and --scopes cannot be given together")
    const scopes = input.admin ? administrative : asked.length === 0 ? standard : asked
    const bundle = input.admin
      ? " (the administrative bundle)"
      : asked.length === 0
      ? " (the standard bundle; --admin for the administrative one)"
      : ""
    const beyond = Scopes.missing(administrative, scopes)
    if (beyond.length > 0) {
      return yield* usage(
        `--scopes: this server cannot grant ${beyond.join(", ")} (it knows ${administrative.join(", ")})`
      )
    }
    if (!Number.isInteger(input.uses) || input.uses < 1 || input.uses > 100) {
      return yield* usage(`--uses must be a whole number from 1 to 100 (got ${input.uses})`)
    }
    const target = yield* pairingTarget(input)
    const base = target.baseUrl
    yield* withState(input, (services) =>
      Effect.gen(function*() {
        const grants = Context.get(services, BootstrapCredentialService.BootstrapCredentialService)
        const issued = yield* grants.issue({
          subject: "owner",
          scopes,
          ttl,
          uses: input.uses,
          label: Option.getOrElse(input.label, () => "gatehouse pair")
        }).pipe(Effect.catchTag("InvalidRequest", (error) => Effect.fail(usage(error.message))))
        const url = Redacted.value(BootstrapCredentialService.pairingUrl(base, issued.credential))
        yield* Console.log([
          `Pairing URL: ${url}`,
          ...Serve.fingerprintLines(target.tlsFingerprint),
          `Code: ${Crockford.format(Redacted.value(issued.credential))}`,
          Serve.qrCode(url),
          ...(target.otherBaseUrls.length > 0 ? [`Also listening on: ${target.otherBaseUrls.join("  ")}`] : []),
          `Scopes: ${scopes.join(" ")}${bundle}`,
          `Works ${input.uses === 1 ? "once" : `${input.uses} times`}, until ${
            time(issued.expiresAt)
          } (link id ${issued.id}).`
        ].join("\n"))
      }))
  })

/**
 * Where a pairing link points: `--url`, else where the running server said a device elsewhere
 * reaches it (its primary network address on a wildcard bind), else the default port.
 */
const pairingTarget = (input: StateInput & { readonly url: Option.Option<string> }) =>
  Effect.gen(function*() {
    if (Option.isNone(input.url)) {
      const announced = yield* readServerFile(input.stateDir)
      if (Option.isSome(announced)) {
        return {
          baseUrl: announced.value.pairingBaseUrl,
          otherBaseUrls: announced.value.otherBaseUrls,
          tlsFingerprint: announced.value.tlsFingerprint
        }
      }
    }
    return {
      baseUrl: yield* baseUrl(input),
      otherBaseUrls: [] as ReadonlyArray<string>,
      tlsFingerprint: undefined as string | undefined
    }
  })

/** `--url`, else the address the server in this state directory announced, else the default port. */
const baseUrl = (input: StateInput & { readonly url: Option.Option<string> }) =>
  Effect.gen(function*() {
    if (Option.isSome(input.url)) {
      if (!Serve.isOrigin(input.url.value)) {
        return yield* usage(
          `--url must be an origin like http://127.0.0.1:3773 (got "${input.url.value}")`
        )
      }
      return input.url.value.replace(/\/+$/, "")
    }
    const announced = yield* readServerFile(input.stateDir)
    if (Option.isSome(announced)) return announced.value.baseUrl
    yield* Console.error(
      `No running server found in ${input.stateDir}; assuming http://127.0.0.1:3773 (pass --url to say where it listens).`
    )
    return "http://127.0.0.1:3773"
  })

export interface MintTokenInput extends StateInput {
  readonly scopes: ReadonlyArray<string>
  readonly ttl: string
  readonly oneTimeUse: boolean
  readonly url: Option.Option<string>
}

/**
 * `gatehouse tokens mint`: an access token (a JWT) as the owner, printed once. It is minted from a
 * session made for it (subject `owner`, method `cli`, exactly the asked scopes), so that
 * `gatehouse sessions revoke <id>` ends it at once; `iss` and `aud` are the server's origin.
 */
export const mintToken = (input: MintTokenInput) =>
  Effect.gen(function*() {
    const ttl = Durations.parse(input.ttl, Duration.seconds(1))
    if (ttl === undefined || Duration.toMillis(ttl) > Duration.toMillis(Duration.hours(24))) {
      return yield* usage(
        `--ttl must be a duration from 1 second to 24 hours, like 15m or "1 hour" (got "${input.ttl}")`
      )
    }
    const scopes = [...new Set(input.scopes.flatMap((value) => value.split(/[\s,]+/)).filter((scope) => scope !== ""))]
    if (scopes.length === 0) return yield* usage("--scopes: name at least one scope, like --scopes read:hello")
    const bad = scopes.find((scope) => !Scopes.isScope(scope))
    if (bad !== undefined) return yield* usage(`--scopes: "${bad}" is not a scope like read:hello`)
    const beyond = Scopes.missing(administrative, scopes)
    if (beyond.length > 0) {
      return yield* usage(
        `--scopes: the owner cannot grant ${beyond.join(", ")} (it holds ${administrative.join(", ")})`
      )
    }
    const issuer = new URL(yield* baseUrl(input)).origin
    yield* withState(input, (services) =>
      Effect.gen(function*() {
        const sessions = Context.get(services, SessionCredentialService.SessionCredentialService)
        const tokens = yield* AccessTokens.make({ issuer }).pipe(Effect.provide(services))
        const { session } = yield* sessions.issue({
          subject: "owner",
          scopes,
          method: "cli",
          transport: "bearer",
          client: { label: "gatehouse tokens mint" }
        })
        const minted = yield* tokens.mint({ session, scopes, expiresIn: ttl, oneTimeUse: input.oneTimeUse }).pipe(
          Effect.catchTags({
            InvalidRequest: (error) => Effect.fail(usage(error.message)),
            ScopesNotHeld: (error) => Effect.fail(usage(error.message))
          })
        )
        yield* Console.error(
          `Access token for owner (${scopes.join(" ")}), valid until ${time(minted.expiresAt)}${
            input.oneTimeUse ? ", once" : ""
          }. Revoke session ${session.sid} to end it sooner. It is printed once:`
        )
        yield* Console.log(Redacted.value(minted.token))
      }))
  })

/** `gatehouse sessions list`: one line per live session, oldest first. No token is shown. */
export const listSessions = (input: StateInput) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const sessions = yield* Context.get(services, SessionCredentialService.SessionCredentialService).list
      if (sessions.length === 0) return yield* Console.log("No sessions.")
      // Every cell escaped: a label is whatever a client stored, and a terminal obeys escapes in it.
      const rows = sessions.map((session) =>
        [
          session.sid,
          session.subject,
          session.method,
          session.transport,
          session.client.label ?? "",
          time(session.createdAt),
          time(session.lastSeenAt),
          session.scopes.join(" ")
        ].map(Terminal.escape)
      )
      yield* Console.log(
        table(["ID", "SUBJECT", "METHOD", "TRANSPORT", "LABEL", "CREATED", "LAST SEEN", "SCOPES"], rows)
      )
    }))

/** `gatehouse sessions revoke <id>`. */
export const revokeSession = (input: StateInput & { readonly id: string }) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const sessions = Context.get(services, SessionCredentialService.SessionCredentialService)
      const id = Ids.SessionId.makeOption(input.id)
      if (Option.isNone(id) || !(yield* sessions.revoke(id.value))) {
        return yield* usage(`No session ${input.id} (see gatehouse sessions list)`)
      }
      yield* Console.log(`Revoked session ${input.id}.`)
    }))

/** `gatehouse sessions revoke-others --keep <id>`: refuses an unknown id rather than revoking all. */
export const revokeOthers = (input: StateInput & { readonly keep: string }) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const sessions = Context.get(services, SessionCredentialService.SessionCredentialService)
      const keep = Ids.SessionId.makeOption(input.keep)
      if (Option.isNone(keep) || Option.isNone(yield* sessions.get(keep.value))) {
        return yield* usage(`No session ${input.keep} to keep (see gatehouse sessions list); nothing was revoked`)
      }
      const count = yield* sessions.revokeAllExcept(keep.value)
      yield* Console.log(`Revoked ${count} session${count === 1 ? "" : "s"}; kept ${input.keep}.`)
    }))

/** Most guests `gatehouse guests list` prints (newest first). */
const guestListLimit = 200

/**
 * `gatehouse guests list`: the newest guests, with when they were last seen and whether they are
 * revoked. Never a cookie (the store holds only its keyed hash, and that is not printed either).
 * The store is read directly: listing and revoking by id need no pepper, so these commands work
 * in hosted mode without the guest pepper's variable.
 */
export const listGuests = (input: StateInput) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const guests = yield* Context.get(services, GuestStore.GuestStore).list(guestListLimit + 1)
      if (guests.length === 0) return yield* Console.log("No guests.")
      const rows = guests.slice(0, guestListLimit).map((guest) =>
        [
          guest.id,
          time(guest.createdAt),
          time(guest.lastSeenAt),
          guest.revokedAt === undefined ? "live" : `revoked ${time(guest.revokedAt)}`
        ].map(Terminal.escape)
      )
      yield* Console.log(table(["ID", "CREATED", "LAST SEEN", "STATE"], rows))
      if (guests.length > guestListLimit) yield* Console.log(`(the newest ${guestListLimit} are shown)`)
    }))

/** `gatehouse guests revoke <id>`: its cookie and tokens stop working; an unknown id is an error. */
export const revokeGuest = (input: StateInput & { readonly id: string }) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const store = Context.get(services, GuestStore.GuestStore)
      const id = Ids.GuestId.makeOption(input.id)
      const now = yield* Clock.currentTimeMillis
      if (Option.isNone(id) || !(yield* store.revoke(id.value, now))) {
        return yield* usage(`No live guest ${input.id} (see gatehouse guests list)`)
      }
      yield* Console.log(`Revoked guest ${Terminal.escape(input.id)}.`)
    }))

/** `gatehouse keys rotate`: tokens signed before stay valid until they expire. */
export const rotateKeys = (input: StateInput) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const key = yield* Context.get(services, SigningKeyring.SigningKeyring).rotate
      yield* Console.log(
        `New signing key ${key.kid}. Tokens signed before stay valid; running servers sign with the new key from their next keyring refresh.`
      )
    }))

/** `gatehouse keys list`: key ids and dates, never key material. */
export const listKeys = (input: StateInput) =>
  withState(input, (services) =>
    Effect.gen(function*() {
      const keys = yield* Context.get(services, SigningKeyring.SigningKeyring).list
      yield* Console.log(
        keys.map((key, i) =>
          `${key.kid}  created ${time(key.createdAt)}${
            key.retiredAt === undefined ? "" : `  retired ${time(key.retiredAt)}`
          }${i === keys.length - 1 ? "  (current)" : ""}`
        ).join("\n")
      )
    }))

/**
 * Runs `call` against the server running on this state directory, with a bearer token for a
 * session made for it: exactly `scope`, labelled "gatehouse CLI", revoked when the command ends.
 * Its token dies after a minute whatever happens, so a CLI killed before its finalizer leaves
 * nothing that works (only a record, which the server's sweep removes at its idle expiry).
 */
const viaRunningServer = <A>(
  input: StateInput,
  scope: string,
  call: (target: PinnedRequest.Target, authorization: string) => Effect.Effect<A, CliError.UserError>
) =>
  Effect.gen(function*() {
    const announced = yield* readServerFile(input.stateDir)
    if (Option.isNone(announced)) {
      return yield* usage(
        `No running server found in ${input.stateDir}: MCP credentials live in the running server's memory (start it with gatehouse serve)`
      )
    }
    const target = { baseUrl: announced.value.baseUrl, tlsFingerprint: announced.value.tlsFingerprint }
    return yield* withState(input, (services) =>
      Effect.gen(function*() {
        const sessions = Context.get(services, SessionCredentialService.SessionCredentialService)
        const { token } = yield* Effect.acquireRelease(
          sessions.issue({
            subject: "owner",
            scopes: [scope],
            method: "cli",
            transport: "bearer",
            client: { label: "gatehouse CLI" }
          }),
          ({ session }) => Effect.ignore(sessions.revoke(session.sid))
        )
        return yield* call(target, `Bearer ${Redacted.value(token)}`)
      }), { bearerAbsoluteLifetime: Duration.minutes(1) })
  })

/** One JSON call to the running server, decoded with its `AuthApi` Schema; anything else is one line. */
const callServer = <S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  target: PinnedRequest.Target,
  authorization: string,
  path: string,
  method: "GET" | "DELETE" = "GET"
) =>
  Effect.gen(function*() {
    const { baseUrl } = target
    const response = yield* Effect.tryPromise({
      try: (signal) => PinnedRequest.request(target, path, { method, headers: { authorization }, signal }),
      catch: (error) => usage(`Could not reach the server at ${baseUrl}: ${(error as Error).message}`)
    })
    const body: unknown = yield* Effect.try({
      try: () => JSON.parse(response.text),
      catch: () => usage(`The server at ${baseUrl} answered ${response.status} without JSON`)
    })
    if (response.status < 200 || response.status > 299) {
      const error = Schema.decodeUnknownOption(AuthApi.ErrorResponse)(body)
      return yield* usage(
        `The server at ${baseUrl} answered ${response.status}${
          Option.isSome(error) ? `: ${error.value.error.message}` : ""
        }`
      )
    }
    return yield* Schema.decodeUnknownEffect(schema)(body).pipe(
      Effect.mapError(() => usage(`The server at ${baseUrl} answered in an unexpected shape`))
    )
  }).pipe(Effect.timeoutOrElse({
    duration: "10 seconds",
    orElse: () => Effect.fail(usage(`The server at ${target.baseUrl} did not answer within 10 seconds`))
  }))

/** `gatehouse mcp list`: the running server's live MCP credentials, oldest first. Never a token. */
export const listMcpCredentials = (input: StateInput) =>
  viaRunningServer(input, Scopes.readAccess, (target, authorization) =>
    Effect.gen(function*() {
      const { credentials } = yield* callServer(
        AuthApi.McpCredentialListResponse,
        target,
        authorization,
        "/api/auth/mcp-credentials"
      )
      if (credentials.length === 0) return yield* Console.log("No MCP credentials.")
      // Every cell escaped: thread and provider ids are chosen by applications, whatever they hold.
      const rows = credentials.map((credential) =>
        [
          credential.id,
          credential.threadId,
          credential.providerInstanceId,
          credential.createdBy ?? "",
          time(credential.createdAt),
          time(credential.lastUsedAt),
          time(credential.expiresAt),
          credential.capabilities.join(" ")
        ].map(Terminal.escape)
      )
      yield* Console.log(table(
        ["ID", "THREAD", "PROVIDER", "SESSION", "CREATED", "LAST USED", "EXPIRES", "CAPABILITIES"],
        rows
      ))
    }))

/** `gatehouse mcp revoke <id>`: an unknown id is an error, as for sessions. */
export const revokeMcpCredential = (input: StateInput & { readonly id: string }) =>
  viaRunningServer(input, Scopes.writeAccess, (target, authorization) =>
    Effect.gen(function*() {
      const { revoked } = yield* callServer(
        AuthApi.RevokeResponse,
        target,
        authorization,
        `/api/auth/mcp-credentials/${encodeURIComponent(input.id)}`,
        "DELETE"
      )
      if (!revoked) return yield* usage(`No MCP credential ${input.id} (see gatehouse mcp list)`)
      yield* Console.log(`Revoked MCP credential ${Terminal.escape(input.id)}.`)
    }))
