/**
 * `gatehouse serve`: start the reference server, seed the desktop bootstrap credential if one is
 * handed over, then print ONE startup pairing URL (an administrative grant) and its QR code.
 *
 * The same credential is used for the `Pairing URL:` line, the QR code and `--open`; the desktop
 * bootstrap credential is never printed. The URL names an address another device can open (see
 * `NetworkAddresses`); with `--tls-cert`/`--tls-key` or `--tls-self-signed` (see `TlsCertificate`)
 * it is `https://`, and the certificate's SHA-256 fingerprint is printed beside it.
 */
import { BootstrapCredentialService, Durations, Scopes, type ServerAuthPolicy } from "@gatehouse-auth/core"
import { Database } from "@gatehouse-auth/sql"
import { Console, Duration, Effect, Layer, Option, Redacted, Result } from "effect"
import { CliError } from "effect/cli"
import { IpNetwork } from "effect/net"
import * as Os from "node:os"
import { renderUnicodeCompact } from "uqr"
import * as Browser from "./Browser.ts"
import * as DesktopBootstrap from "./DesktopBootstrap.ts"
import * as GatehouseServer from "./GatehouseServer.ts"
import * as HelloRoutes from "./HelloRoutes.ts"
import * as NetworkAddresses from "./NetworkAddresses.ts"
import { isOrigin } from "./Origins.ts"
import * as ServerFile from "./ServerFile.ts"
import * as Terminal from "./Terminal.ts"
import * as TlsCertificate from "./TlsCertificate.ts"
import * as X509 from "./X509.ts"

export interface Input {
  readonly host: string
  readonly port: number
  readonly stateDir: string
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  /** A duration such as `30 seconds`. */
  readonly keyRefreshInterval: string
  readonly open: boolean
  readonly desktopBootstrapFd: Option.Option<number>
  readonly allowedOrigins: ReadonlyArray<string>
  readonly trustedProxies: ReadonlyArray<string>
  readonly policy: Option.Option<ServerAuthPolicy.Policy>
  readonly publicUrl: Option.Option<string>
  readonly hosted: boolean
  readonly maxConnections: number
  readonly maxConnectionsPerAddress: number
  /** `--ws-max-per-session`, `--ws-max-per-address`: open WebSockets (`WebSocketGuard.Limits`). */
  readonly wsMaxPerSession?: number | undefined
  readonly wsMaxPerAddress?: number | undefined
  /** Durations such as `10 seconds`. */
  readonly headersTimeout: string
  readonly requestTimeout: string
  readonly keepAliveTimeout: string
  /** `--tls-cert` and `--tls-key`: serve HTTPS with these PEM files. */
  readonly tlsCert: Option.Option<string>
  readonly tlsKey: Option.Option<string>
  /** `--tls-self-signed`: serve HTTPS with a certificate made once in the state directory. */
  readonly tlsSelfSigned: boolean
  /** `--disable-local-proof`: no same-user proof for local tools (it is on by default on POSIX). */
  readonly disableLocalProof?: boolean | undefined
  /** `--require-dpop`: issue only DPoP-bound bearer credentials (`HttpAuthSettings.requireDpop`). */
  readonly requireDpop?: boolean | undefined
}

/** A failure the CLI prints as one line (exit 1), with no stack trace. */
/**
 * A one-line refusal of the command line. The message quotes what was typed or read from the
 * state (an argument, a stored label, a database's error), so it is escaped for the terminal here,
 * once, for every caller.
 */
export const usage = (message: string) => {
  const printable = Terminal.escape(message)
  return new CliError.UserError({ cause: printable, userMessage: printable })
}

export { isOrigin } from "./Origins.ts"

const isNetwork = (value: string): boolean =>
  Result.isSuccess(IpNetwork.fromString(value.includes("/") ? value : `${value}/${value.includes(":") ? 128 : 32}`))

/** What `400 insecure_transport` tells a browser on plain HTTP under a non-loopback name to do. */
const insecureTransportAdvice = (publicUrl: string | undefined): string =>
  publicUrl !== undefined && publicUrl.startsWith("https:")
    ? `Open ${publicUrl.replace(/\/+$/, "")}/pair instead.`
    : "Start gatehouse serve with --tls-self-signed (or --tls-cert and --tls-key) and open the https:// pairing " +
      "URL it prints, or put a TLS proxy in front (--public-url https://...)."

/** Turns the flags into server options, or a message that says what is wrong. */
export const validate = (input: Input): Effect.Effect<GatehouseServer.Options, CliError.UserError> => {
  if (Option.isSome(input.databaseUrl) && Database.describeUrl(Redacted.value(input.databaseUrl.value)) === undefined) {
    return Effect.fail(
      usage(
        "--database-url must be a PostgreSQL URL like postgres://user:password@host:5432/gatehouse (percent-encode / ? # @ in the password)"
      )
    )
  }
  const keyRefreshInterval = Durations.parse(input.keyRefreshInterval)
  if (keyRefreshInterval === undefined) {
    return Effect.fail(usage(
      `--key-refresh-interval must be a duration of at least 100 millis, like "30 seconds" (got "${input.keyRefreshInterval}")`
    ))
  }
  if (!Number.isInteger(input.port) || input.port < 0 || input.port > 65535) {
    return Effect.fail(usage(`--port must be a whole number from 0 to 65535 (got ${input.port})`))
  }
  for (
    const [flag, value] of [
      ["--max-connections", input.maxConnections],
      ["--max-connections-per-address", input.maxConnectionsPerAddress],
      ["--ws-max-per-session", input.wsMaxPerSession ?? 1],
      ["--ws-max-per-address", input.wsMaxPerAddress ?? 1]
    ] as const
  ) {
    if (!Number.isSafeInteger(value) || value < 1) {
      return Effect.fail(usage(`${flag} must be a whole number of at least 1 (got ${value})`))
    }
  }
  const timeouts = {
    headersTimeout: Durations.parse(input.headersTimeout),
    requestTimeout: Durations.parse(input.requestTimeout),
    keepAliveTimeout: Durations.parse(input.keepAliveTimeout)
  }
  for (
    const [flag, parsed, typed] of [
      ["--headers-timeout", timeouts.headersTimeout, input.headersTimeout],
      ["--request-timeout", timeouts.requestTimeout, input.requestTimeout],
      ["--keep-alive-timeout", timeouts.keepAliveTimeout, input.keepAliveTimeout]
    ] as const
  ) {
    if (parsed === undefined) {
      return Effect.fail(usage(`${flag} must be a duration of at least 100 millis, like "10 seconds" (got "${typed}")`))
    }
  }
  if (Duration.toMillis(timeouts.headersTimeout!) > Duration.toMillis(timeouts.requestTimeout!)) {
    return Effect.fail(usage("--headers-timeout must not be longer than --request-timeout"))
  }
  if (Option.isSome(input.tlsCert) !== Option.isSome(input.tlsKey)) {
    return Effect.fail(usage("--tls-cert and --tls-key go together: the certificate and its private key (PEM files)"))
  }
  if (input.tlsSelfSigned && Option.isSome(input.tlsCert)) {
    return Effect.fail(usage("--tls-self-signed makes its own certificate: give it or --tls-cert/--tls-key, not both"))
  }
  if (input.tlsSelfSigned && input.hosted) {
    return Effect.fail(
      usage("--tls-self-signed writes a private key to disk, which --hosted never does: use --tls-cert and --tls-key")
    )
  }
  if (input.host.trim() === "") return Effect.fail(usage("--host must not be empty"))
  if (input.stateDir.trim() === "") return Effect.fail(usage("--state-dir must not be empty"))
  const badOrigin = input.allowedOrigins.find((origin) => !isOrigin(origin))
  if (badOrigin !== undefined) {
    return Effect.fail(
      usage(`--allowed-origin must be an origin like https://app.example.com (got "${badOrigin}")`)
    )
  }
  const badProxy = input.trustedProxies.find((cidr) => !isNetwork(cidr))
  if (badProxy !== undefined) {
    return Effect.fail(
      usage(`--trusted-proxy must be an address or CIDR network like 10.0.0.0/8 (got "${badProxy}")`)
    )
  }
  const publicUrl = Option.getOrUndefined(input.publicUrl)
  if (publicUrl !== undefined && !isOrigin(publicUrl)) {
    return Effect.fail(
      usage(`--public-url must be an origin like https://gatehouse.example.com (got "${publicUrl}")`)
    )
  }
  return Effect.succeed({
    host: input.host.trim(),
    port: input.port,
    stateDir: input.stateDir,
    databaseUrl: Option.getOrUndefined(input.databaseUrl),
    keyRefreshInterval,
    hosted: input.hosted,
    policy: Option.getOrUndefined(input.policy),
    desktop: Option.isSome(input.desktopBootstrapFd),
    allowedOrigins: input.allowedOrigins.map((origin) => origin.replace(/\/$/, "").toLowerCase()),
    trustedProxies: input.trustedProxies,
    publicUrl,
    maxConnections: input.maxConnections,
    maxConnectionsPerAddress: input.maxConnectionsPerAddress,
    webSocketLimits: { maxPerSession: input.wsMaxPerSession, maxPerAddress: input.wsMaxPerAddress },
    headersTimeout: timeouts.headersTimeout,
    requestTimeout: timeouts.requestTimeout,
    keepAliveTimeout: timeouts.keepAliveTimeout,
    insecureTransportAdvice: insecureTransportAdvice(publicUrl),
    ...(input.disableLocalProof === true ? { localProof: false as const } : {}),
    ...(input.requireDpop === true ? { requireDpop: true } : {})
  })
}

/** The terminal QR code of `url` (two rows per line, so it fits an ordinary terminal). */
export const qrCode = (url: string): string => renderUnicodeCompact(url, { border: 2, ecc: "L" })

const listenError = (options: GatehouseServer.Options) => (error: unknown) => {
  const cause = (error as { readonly cause?: { readonly code?: unknown } } | undefined)?.cause
  const code = typeof cause?.code === "string" ? cause.code : undefined
  const where = `${GatehouseServer.urlHost(options.host)}:${options.port}`
  return usage(
    code === "EADDRINUSE"
      ? `Could not listen on ${where}: the port is in use. Pick another with --port.`
      : `Could not start the server on ${where}${code === undefined ? "" : ` (${code})`}.`
  )
}

/** The banner's lines about where else the server listens, and whether a phone can reach it. */
export const reachability = (info: GatehouseServer.GatehouseServerShape): ReadonlyArray<string> => [
  ...(info.otherBaseUrls.length > 0 ? [`Also listening on: ${info.otherBaseUrls.join("  ")}`] : []),
  ...(info.loopbackOnly && NetworkAddresses.isWildcard(info.host)
    ? [
      "No network address besides loopback was found: only this machine can open the pairing URL. " +
      "Pass --public-url with the address other devices use."
    ]
    : [])
]

/** The line beside the pairing URL that lets a person check the certificate their phone is shown. */
export const fingerprintLines = (fingerprint: string | undefined): ReadonlyArray<string> =>
  fingerprint === undefined ? [] : [`TLS certificate SHA-256 fingerprint: ${fingerprint}`]

/**
 * The certificate to serve, if any: the files of `--tls-cert`/`--tls-key`, or the state
 * directory's self-signed one for every name and address the server is reached at.
 */
const certificate = (input: Input, options: GatehouseServer.Options) =>
  Effect.gen(function*() {
    if (Option.isSome(input.tlsCert) && Option.isSome(input.tlsKey)) {
      return yield* TlsCertificate.load(input.tlsCert.value, input.tlsKey.value)
    }
    if (!input.tlsSelfSigned) return undefined
    const addresses = yield* (yield* NetworkAddresses.NetworkAddresses).list
    const found = NetworkAddresses.reachable(options.host, addresses)
    const hostname = Os.hostname().toLowerCase()
    const named = [options.host, ...(options.publicUrl === undefined ? [] : [new URL(options.publicUrl).hostname])]
      .map((name) => name.replace(/^\[|\]$/g, ""))
      .filter((name) => name !== "" && !NetworkAddresses.isWildcard(name))
    return yield* TlsCertificate.selfSigned({
      stateDir: options.stateDir,
      commonName: `Gatehouse on ${X509.isDnsName(hostname) ? hostname : "this machine"}`,
      dnsNames: ["localhost", hostname, ...(hostname.includes(".") ? [] : [`${hostname}.local`]), ...named],
      ipAddresses: ["127.0.0.1", "::1", found.primary, ...found.others, ...named].map((each) =>
        each.replace(/^\[|\]$/g, "")
      )
    })
  }).pipe(Effect.mapError((error) => usage(error.message)))

/** Runs the server until interrupted (SIGINT / SIGTERM). */
export const run = (input: Input) =>
  Effect.scoped(Effect.gen(function*() {
    const options = yield* validate(input)
    // Read before listening: nothing is served until the desktop shell's credential is seeded.
    const desktopCredential = Option.isSome(input.desktopBootstrapFd)
      ? Option.some(
        yield* DesktopBootstrap.readCredential(input.desktopBootstrapFd.value).pipe(
          Effect.mapError((error) => usage(error.message))
        )
      )
      : Option.none<Redacted.Redacted<string>>()
    // Refuse a malformed credential before anything listens.
    if (
      Option.isSome(desktopCredential) &&
      BootstrapCredentialService.hashCredential(desktopCredential.value) === undefined
    ) {
      return yield* usage(
        "The desktop bootstrap credential was refused: it must be 16 to 64 Crockford base32 characters"
      )
    }

    const tls = yield* certificate(input, options)
    const context = yield* Layer.build(GatehouseServer.layer({ ...options, tls })).pipe(
      // Whatever stops the start (the port, the database, a secret hosted mode may not generate,
      // a wrapping key that does not open the stored keyring) is one line that says what to do:
      // no stack trace, and never a password (DatabaseError names `host:port/db` only).
      Effect.mapError((error) => error._tag === "ServeError" ? listenError(options)(error) : usage(error.message))
    )
    const { grants, info, serverAuth, shutdown } = GatehouseServer.services(context)

    if (Option.isSome(desktopCredential)) {
      yield* grants.seedDesktopCredential(desktopCredential.value, {
        subject: "owner",
        scopes: Scopes.administrative(HelloRoutes.applicationScopes),
        label: "desktop bootstrap"
      }).pipe(Effect.mapError((error) => usage(`The desktop bootstrap credential was refused: ${error.message}`)))
    }
    // The desktop credential's TTL starts now that the server listens.
    yield* grants.armDesktopGrants

    if (info.policy === "remote-reachable" && !info.baseUrl.startsWith("https:")) {
      yield* Effect.logWarning(
        "This server is reachable beyond this machine over plain HTTP. Its session cookies are Secure, so browsers " +
          "elsewhere need HTTPS: start it with --tls-self-signed (or --tls-cert/--tls-key), or put a TLS proxy in " +
          "front (--public-url https://... --trusted-proxy <proxy address>)."
      )
    }
    // Before the banner: whoever reads the banner may run `gatehouse pair` at once.
    yield* ServerFile.announce(options.stateDir, info.baseUrl, {
      pairingBaseUrl: info.pairingBaseUrl,
      otherBaseUrls: info.otherBaseUrls,
      tlsFingerprint: info.tlsFingerprint
    })
    const startup = yield* serverAuth.issueStartupPairingUrl(info.pairingBaseUrl)
    const url = Redacted.value(startup.url)
    // One write, so that a reader of stdout sees the banner whole.
    yield* Console.log([
      `Gatehouse is listening on ${info.baseUrl} (policy ${info.policy}). Press Ctrl+C to stop.`,
      `Pairing URL: ${url}`,
      ...fingerprintLines(info.tlsFingerprint),
      qrCode(url),
      ...reachability(info),
      `Open the URL or scan the code to pair a browser as administrator. It works once, until ${
        new Date(startup.expiresAt).toLocaleTimeString()
      }.`
    ].join("\n"))
    if (input.open) {
      const opened = yield* Browser.open(url)
      if (!opened) yield* Console.log("Could not open a browser; open the pairing URL yourself.")
    }
    // Interrupted by SIGINT/SIGTERM: tell WebSockets to go away before the server's scope closes.
    return yield* Effect.onInterrupt(Effect.never, () => shutdown.begin)
  }))
