/**
 * `@gatehouse-auth/server`: the reference server and the `gatehouse` CLI, built on the other packages.
 * Most people run the bin; these modules are for embedding it or testing against it.
 */

/** Opens a URL in the person's browser (only with `--open`). */
export * as Browser from "./Browser.ts"

/** The `gatehouse` command line (`serve`, `pair`, `sessions`, `keys`), on `effect/cli`. */
export * as Cli from "./Cli.ts"

/** Reads the desktop bootstrap credential from an inherited file descriptor (never argv or env). */
export * as DesktopBootstrap from "./DesktopBootstrap.ts"

/** The reference server as one Layer: core services, stores, the HTTP stack and its routes. */
export * as GatehouseServer from "./GatehouseServer.ts"

/** The demo application: `GET /api/hello`, the `/ws` echo and its scopes. */
export * as HelloRoutes from "./HelloRoutes.ts"

/** Which address a pairing URL names: a wildcard bind's primary non-loopback address (injectable). */
export * as NetworkAddresses from "./NetworkAddresses.ts"

/** The `/pair` page: pairing by link or typed code, then the session list. */
export * as PairPage from "./PairPage.ts"

/** `gatehouse serve`: flags, the start-up banner with the pairing URL and QR code, shutdown. */
export * as Serve from "./Serve.ts"

/** Where the server keeps its state: SQLite in the state directory, or PostgreSQL. */
export * as Stores from "./Stores.ts"

/** The certificate HTTPS is served with: files given, or a self-signed one kept in the state directory. */
export * as TlsCertificate from "./TlsCertificate.ts"

/** A minimal DER encoder and the self-signed X.509 certificate of `--tls-self-signed`. */
export * as X509 from "./X509.ts"
