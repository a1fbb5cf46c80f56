/**
 * The `gatehouse` command line (effect/cli). `gatehouse serve` is what `npm start` runs.
 */
import { Config } from "effect"
import { Command, Flag } from "effect/cli"
import { ServerAuthPolicy } from "@gatehouse/core"
import * as Serve from "./Serve.ts"

export const version = "0.1.0"

const repeatable = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.atLeast(0), Flag.withDescription(description))

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
  stateDir: Flag.String("state-dir").pipe(
    Flag.withDefault(".gatehouse"),
    Flag.withDescription("Directory for the server's state (signing keys in secrets/, mode 0700/0600).")
  ),
  databaseUrl: Flag.Redacted("database-url").pipe(
    Flag.optional,
    Flag.withDescription("Postgres store (not supported yet: grants and sessions are kept in memory).")
  ),
  open: Flag.Boolean("open").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Open the pairing URL in a browser. Without it no browser is ever opened.")
  ),
  desktopBootstrapFd: Flag.Int("desktop-bootstrap-fd").pipe(
    Flag.optional,
    Flag.withDescription("Read the desktop bootstrap credential as one line from this file descriptor (> 2).")
  ),
  allowedOrigins: repeatable("allowed-origin", "An origin besides the server's own allowed to make cookie requests (repeatable)."),
  trustedProxies: repeatable("trusted-proxy", "A proxy network (CIDR) whose X-Forwarded-* headers are believed (repeatable)."),
  policy: Flag.Literals("policy", ServerAuthPolicy.Policy.literals).pipe(
    Flag.optional,
    Flag.withDescription("Auth policy; derived from --host when absent. unsafe-no-auth turns authentication OFF.")
  ),
  publicUrl: Flag.String("public-url").pipe(
    Flag.optional,
    Flag.withDescription("The origin browsers use to reach the server (e.g. behind a TLS proxy); the pairing URL's base.")
  ),
  hosted: Flag.Boolean("hosted").pipe(
    Flag.withFallbackConfig(Config.Boolean("GATEHOUSE_HOSTED")),
    Flag.withDefault(false),
    Flag.withDescription("Never generate secrets on disk; they must come from GATEHOUSE_SECRET_* variables.")
  )
}, Serve.run).pipe(
  Command.withDescription("Start the Gatehouse reference server and print a pairing URL."),
  Command.withExamples([
    { command: "gatehouse serve", description: "Serve on http://127.0.0.1:3773 with state in ./.gatehouse" },
    { command: "gatehouse serve --port 4000 --open", description: "Another port, and open the pairing URL in a browser" }
  ])
)

export const gatehouse = Command.make("gatehouse").pipe(
  Command.withDescription("Gatehouse: authentication for local-first servers."),
  Command.withSubcommands([serve])
)

/** The whole CLI; reads the arguments from `Stdio` (process.argv on Node). */
export const run = Command.run(gatehouse, { version })
