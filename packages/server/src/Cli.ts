/**
 * The `gatehouse` command line (effect/cli). `gatehouse serve` is what `npm start` runs.
 */
import { ServerAuthPolicy } from "@gatehouse-auth/core"
import { Config } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as Admin from "./Admin.ts"
import * as Serve from "./Serve.ts"

export const version = "0.1.0"

const repeatable = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.atLeast(0), Flag.withDescription(description))

// Where the state is: the same flags for `serve` and for the commands that work beside it.
const stateDir = Flag.String("state-dir").pipe(
  Flag.withDefault(".gatehouse"),
  Flag.withDescription("Directory for the server's state: gatehouse.db (SQLite) and secrets/ (mode 0700/0600).")
)
const databaseUrl = Flag.Redacted("database-url").pipe(
  Flag.withFallbackConfig(Config.Redacted("GATEHOUSE_DATABASE_URL")),
  Flag.optional,
  Flag.withDescription(
    "Keep grants, sessions and signing keys in PostgreSQL (postgres://...; or GATEHOUSE_DATABASE_URL) instead of SQLite. " +
      "Instances on one database need the same GATEHOUSE_SECRET_KEYRING_WRAPPING_KEY."
  )
)
const hosted = Flag.Boolean("hosted").pipe(
  Flag.withFallbackConfig(Config.Boolean("GATEHOUSE_HOSTED")),
  Flag.withDefault(false),
  Flag.withDescription("Never generate secrets on disk; they must come from GATEHOUSE_SECRET_* variables.")
)
const state = { stateDir, databaseUrl, hosted }

export const serve = Command.make("serve", {
  host: Flag.String("host").pipe(
    Flag.withDefault("127.0.0.1"),
    Flag.withDescription("Address to bind. Anything but loopback makes the server remote-reachable (Secure cookies).")
  ),
  port: Flag.Int("port").pipe(
    Flag.withFallbackConfig(Config.Int("GATEHOUSE_PORT")),
    Flag.withDefault(3773),
    Flag.withDescription("Port to bind (default 3773, or GATEHOUSE_PORT); 0 picks a free one.")
  ),
  ...state,
  keyRefreshInterval: Flag.String("key-refresh-interval").pipe(
    Flag.withFallbackConfig(Config.String("GATEHOUSE_KEY_REFRESH_INTERVAL")),
    Flag.withDefault("1 minute"),
    Flag.withDescription(
      "How often the signing keys are re-read from the database, to sign with a key rotated elsewhere."
    )
  ),
  open: Flag.Boolean("open").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Open the pairing URL in a browser. Without it no browser is ever opened.")
  ),
  desktopBootstrapFd: Flag.Int("desktop-bootstrap-fd").pipe(
    Flag.optional,
    Flag.withDescription("Read the desktop bootstrap credential as one line from this file descriptor (> 2).")
  ),
  allowedOrigins: repeatable(
    "allowed-origin",
    "An origin besides the server's own allowed to make cookie requests (repeatable)."
  ),
  trustedProxies: repeatable(
    "trusted-proxy",
    "A proxy network (CIDR) whose X-Forwarded-* headers are believed (repeatable)."
  ),
  policy: Flag.Literals("policy", ServerAuthPolicy.Policy.literals).pipe(
    Flag.optional,
    Flag.withDescription("Auth policy; derived from --host when absent. unsafe-no-auth turns authentication OFF.")
  ),
  publicUrl: Flag.String("public-url").pipe(
    Flag.optional,
    Flag.withDescription(
      "The origin browsers use to reach the server (e.g. behind a TLS proxy); the pairing URL's base."
    )
  ),
  maxConnections: Flag.Int("max-connections").pipe(
    Flag.withDefault(1024),
    Flag.withDescription("Open connections at once (default 1024); one more is closed at once.")
  ),
  maxConnectionsPerAddress: Flag.Int("max-connections-per-address").pipe(
    Flag.withDefault(256),
    Flag.withDescription("Open connections at once from one client address, IPv6 by its /64 (default 256).")
  ),
  wsMaxPerSession: Flag.Int("ws-max-per-session").pipe(
    Flag.withDefault(16),
    Flag.withDescription("Open WebSockets per session on this instance (default 16); the next upgrade is a 429.")
  ),
  wsMaxPerAddress: Flag.Int("ws-max-per-address").pipe(
    Flag.withDefault(64),
    Flag.withDescription("Open WebSockets per client address on this instance (default 64); the next upgrade is a 429.")
  ),
  headersTimeout: Flag.String("headers-timeout").pipe(
    Flag.withDefault("10 seconds"),
    Flag.withDescription("How long a client may take to send a request's headers (default 10 seconds); then 408.")
  ),
  requestTimeout: Flag.String("request-timeout").pipe(
    Flag.withDefault("30 seconds"),
    Flag.withDescription("How long a client may take to send a whole request, body included (default 30 seconds).")
  ),
  keepAliveTimeout: Flag.String("keep-alive-timeout").pipe(
    Flag.withDefault("5 seconds"),
    Flag.withDescription("How long an idle keep-alive connection stays open (default 5 seconds).")
  ),
  tlsCert: Flag.String("tls-cert").pipe(
    Flag.optional,
    Flag.withDescription("Serve HTTPS and WSS with this certificate (PEM file; with --tls-key).")
  ),
  tlsKey: Flag.String("tls-key").pipe(
    Flag.optional,
    Flag.withDescription("The private key of --tls-cert (PEM file, owned by you, not readable by others).")
  ),
  tlsSelfSigned: Flag.Boolean("tls-self-signed").pipe(
    Flag.withDefault(false),
    Flag.withDescription(
      "Serve HTTPS with a certificate made once for this machine's names and addresses, kept in the state " +
        "directory; its SHA-256 fingerprint is printed beside the pairing URL."
    )
  ),
  requireDpop: Flag.Boolean("require-dpop").pipe(
    Flag.withDefault(false),
    Flag.withDescription(
      "Issue only DPoP-bound bearer credentials: the bearer pairing, access tokens, the local proof and " +
        "OAuth tokens need a DPoP proof (cookie sessions in browsers are unaffected)."
    )
  ),
  disableLocalProof: Flag.Boolean("disable-local-proof").pipe(
    Flag.withDefault(false),
    Flag.withDescription(
      "Turn off the same-user proof for local tools (POST /api/auth/local-proof/*: a program of your OS user " +
        "on this machine gets a session by writing a nonce into $XDG_RUNTIME_DIR/gatehouse or <state-dir>/run)."
    )
  )
}, Serve.run).pipe(
  Command.withDescription("Start the Gatehouse reference server and print a pairing URL."),
  Command.withExamples([
    { command: "gatehouse serve", description: "Serve on http://127.0.0.1:3773 with state in ./.gatehouse" },
    {
      command: "gatehouse serve --port 4000 --open",
      description: "Another port, and open the pairing URL in a browser"
    },
    {
      command: "gatehouse serve --host 0.0.0.0 --tls-self-signed",
      description: "Reachable from a phone on this network, over HTTPS: scan the QR code and compare the fingerprint"
    }
  ])
)

export const pair = Command.make("pair", {
  ...state,
  label: Flag.String("label").pipe(Flag.optional, Flag.withDescription("A name for the device that will pair.")),
  ttl: Flag.String("ttl").pipe(
    Flag.withDefault("10 minutes"),
    Flag.withDescription("How long the link works (up to 1 day).")
  ),
  scopes: Flag.String("scopes").pipe(
    Flag.atLeast(0),
    Flag.withDescription("A scope to grant (repeatable; default: the standard bundle, the application's own scopes).")
  ),
  admin: Flag.Boolean("admin").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Grant the administrative bundle (pair other devices, list and revoke sessions).")
  ),
  uses: Flag.Int("uses").pipe(
    Flag.withDefault(1),
    Flag.withDescription("How many devices may pair with it (default 1).")
  ),
  url: Flag.String("url").pipe(
    Flag.optional,
    Flag.withDescription("The server's origin for the URL (default: where the server on this state directory listens).")
  )
}, Admin.pair).pipe(
  Command.withDescription("Make a pairing link and print its URL, code and QR code."),
  Command.withExamples([
    { command: "gatehouse pair --label phone --scopes read:hello", description: "A read-only link for a phone" },
    { command: "gatehouse pair --label laptop --admin", description: "A link that pairs another administrator" }
  ])
)

const sessionsList = Command.make("list", state, Admin.listSessions).pipe(
  Command.withDescription("List the live sessions (ids, devices, scopes; never tokens).")
)
const sessionsRevoke = Command.make("revoke", {
  ...state,
  id: Argument.String("id").pipe(Argument.withDescription("The session id (from gatehouse sessions list)."))
}, Admin.revokeSession).pipe(Command.withDescription("Revoke one session: its next request is refused."))
const sessionsRevokeOthers = Command.make("revoke-others", {
  ...state,
  keep: Flag.String("keep").pipe(Flag.withDescription("The session id to keep."))
}, Admin.revokeOthers).pipe(Command.withDescription("Revoke every session but one."))

export const sessions = Command.make("sessions").pipe(
  Command.withDescription("List and revoke sessions."),
  Command.withSubcommands([sessionsList, sessionsRevoke, sessionsRevokeOthers])
)

const guestsList = Command.make("list", state, Admin.listGuests).pipe(
  Command.withDescription("List the newest guests (ids, dates, revoked or not; never cookies).")
)
const guestsRevoke = Command.make("revoke", {
  ...state,
  id: Argument.String("id").pipe(Argument.withDescription("The guest id (from gatehouse guests list)."))
}, Admin.revokeGuest).pipe(Command.withDescription("Revoke one guest: its cookie and tokens stop working."))

export const guests = Command.make("guests").pipe(
  Command.withDescription("List and revoke guests (visitors who have not paired)."),
  Command.withSubcommands([guestsList, guestsRevoke])
)

const keysRotate = Command.make("rotate", state, Admin.rotateKeys).pipe(
  Command.withDescription("Start signing with a new key; tokens signed before stay valid.")
)
const keysList = Command.make("list", state, Admin.listKeys).pipe(
  Command.withDescription("List signing key ids and dates (never key material).")
)

const mcpList = Command.make("list", state, Admin.listMcpCredentials).pipe(
  Command.withDescription("List the running server's MCP credentials (ids, threads, sessions; never tokens).")
)
const mcpRevoke = Command.make("revoke", {
  ...state,
  id: Argument.String("id").pipe(Argument.withDescription("The credential id (from gatehouse mcp list)."))
}, Admin.revokeMcpCredential).pipe(
  Command.withDescription("Revoke one MCP credential: the agent's next call is refused.")
)

export const mcp = Command.make("mcp").pipe(
  Command.withDescription("List and revoke the running server's MCP credentials (through its HTTP API)."),
  Command.withSubcommands([mcpList, mcpRevoke])
)

const tokensMint = Command.make("mint", {
  ...state,
  scopes: Flag.String("scopes").pipe(
    Flag.atLeast(1),
    Flag.withDescription("A scope the token carries (repeatable, or comma-separated); the owner must hold it.")
  ),
  ttl: Flag.String("ttl").pipe(
    Flag.withDefault("15 minutes"),
    Flag.withDescription("How long the token works (default 15 minutes, at most 24 hours).")
  ),
  oneTimeUse: Flag.Boolean("once").pipe(
    Flag.withDefault(false),
    Flag.withDescription("The token is accepted once.")
  ),
  url: Flag.String("url").pipe(
    Flag.optional,
    Flag.withDescription(
      "The server's origin, the token's iss and aud (default: where the server on this state directory listens)."
    )
  )
}, Admin.mintToken).pipe(
  Command.withDescription("Mint an access token (a JWT) as the owner and print it once."),
  Command.withExamples([
    { command: "gatehouse tokens mint --scopes write:tasks:build --ttl 10m", description: "A token for one task" }
  ])
)

export const tokens = Command.make("tokens").pipe(
  Command.withDescription("Access tokens: short-lived JWTs with narrowed scopes, for tools and agents."),
  Command.withSubcommands([tokensMint])
)

export const keys = Command.make("keys").pipe(
  Command.withDescription("The signing keyring."),
  Command.withSubcommands([keysRotate, keysList])
)

export const gatehouse = Command.make("gatehouse").pipe(
  Command.withDescription("Gatehouse: authentication for local-first servers."),
  Command.withSubcommands([serve, pair, sessions, guests, keys, tokens, mcp])
)

/** The whole CLI; reads the arguments from `Stdio` (process.argv on Node). */
export const run = Command.run(gatehouse, { version })
