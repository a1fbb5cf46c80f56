/**
 * The certificate `gatehouse serve` serves HTTPS with: files the person names (`--tls-cert`,
 * `--tls-key`), or one it makes itself (`--tls-self-signed`) and keeps in the state directory.
 *
 * The self-signed one is made once and reused, so its fingerprint stays the one a person compared
 * with their phone's: `<stateDir>/tls-self-signed.key` (written like every state file, see `AtomicFile`: created 0600, exclusively, fsync-ed, then renamed
 * into place: never written through a planted link) and `<stateDir>/tls-self-signed.crt`. It is
 * made again only when it expires within `renewBefore` (30 days; it is valid for 365), when it no
 * longer names every name and address the server is reached at (a new address from DHCP), or when
 * the files do not match. Both files, and a key the person supplies, are read only once they pass
 * `OwnedPath.check` (ours, no link, not open to others).
 */
import { AtomicFile, OwnedPath } from "@gatehouse-auth/core"
import { Clock, Effect, FileSystem, Path, Redacted, Schema } from "effect"
import * as Crypto from "node:crypto"
import * as X509 from "./X509.ts"

export interface Certificate {
  /** PEM. */
  readonly cert: string
  readonly key: Redacted.Redacted<string>
  /** SHA-256 fingerprint, as browsers show it (`AB:CD:...`). */
  readonly fingerprint: string
  readonly expiresAt: number
}

export class TlsCertificateError extends Schema.TaggedError<TlsCertificateError>()("TlsCertificateError", {
  message: Schema.String
}) {}

const day = 24 * 3600 * 1000
export const validityMillis = 365 * day
export const renewBeforeMillis = 30 * day

export const files = (path: Path.Path, stateDir: string) => ({
  key: path.join(stateDir, "tls-self-signed.key"),
  cert: path.join(stateDir, "tls-self-signed.crt")
})

/** Parses a certificate and checks the key is its key. */
const certificateOf = (cert: string, key: string, what: string) =>
  Effect.try({
    try: () => {
      const parsed = new Crypto.X509Certificate(cert)
      if (!parsed.checkPrivateKey(Crypto.createPrivateKey(key))) throw new Error("the key is not the certificate's")
      return parsed
    },
    catch: (error) => new TlsCertificateError({ message: `${what}: ${(error as Error).message}` })
  })

/** `--tls-cert` and `--tls-key`: read, the key only once it passes `OwnedPath.check`. */
export const load = Effect.fn("TlsCertificate.load")(function*(certFile: string, keyFile: string) {
  const fs = yield* FileSystem.FileSystem
  const unreadable = (file: string) => (error: { readonly message: string }) =>
    new TlsCertificateError({ message: `Could not read ${file}: ${error.message}` })
  if (!(yield* OwnedPath.check(keyFile, "file").pipe(Effect.mapError(unreadable(keyFile))))) {
    return yield* new TlsCertificateError({ message: `--tls-key: ${keyFile} does not exist` })
  }
  const cert = yield* fs.readFileString(certFile).pipe(Effect.mapError(unreadable(certFile)))
  const key = yield* fs.readFileString(keyFile).pipe(Effect.mapError(unreadable(keyFile)))
  const parsed = yield* certificateOf(cert, key, `--tls-cert ${certFile} with --tls-key ${keyFile}`)
  return {
    cert,
    key: Redacted.make(key, { label: "tls-key" }),
    fingerprint: parsed.fingerprint256,
    expiresAt: Date.parse(parsed.validTo)
  } satisfies Certificate
})

export interface SelfSignedOptions {
  readonly stateDir: string
  readonly commonName: string
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
}

/** Does `parsed` still do: not expiring soon, and naming every name and address asked for? */
const stillGood = (parsed: Crypto.X509Certificate, options: SelfSignedOptions, now: number) => {
  if (Date.parse(parsed.validTo) - now < renewBeforeMillis || Date.parse(parsed.validFrom) > now) return false
  const covered = X509.coveredNames(parsed)
  return options.dnsNames.filter(X509.isDnsName).every((name) => covered.dns.has(name.toLowerCase())) &&
    options.ipAddresses.every((address) => {
      const bytes = X509.ipBytes(address)
      return bytes === undefined || covered.ips.has(bytes.toString("hex"))
    })
}

/** Writes `text` to `target` the way every state file is written (see `AtomicFile`): whole, 0600, fsync-ed. */
const writePrivate = (target: string, text: string) =>
  AtomicFile.replace(target, new TextEncoder().encode(text), { crashPoint: "tls" })

/** The self-signed certificate of the state directory, made (or made again) when it will not do. */
export const selfSigned = Effect.fn("TlsCertificate.selfSigned")(function*(options: SelfSignedOptions) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const now = yield* Clock.currentTimeMillis
  const { cert: certFile, key: keyFile } = files(path, options.stateDir)
  const failed = (what: string) => (error: { readonly message: string }) =>
    new TlsCertificateError({ message: `Could not ${what}: ${error.message}` })

  yield* fs.makeDirectory(options.stateDir, { recursive: true, mode: 0o700 }).pipe(
    Effect.mapError(failed(`create ${options.stateDir}`))
  )
  yield* OwnedPath.check(options.stateDir, "directory").pipe(Effect.mapError(failed(`use ${options.stateDir}`)))
  const keyExists = yield* OwnedPath.check(keyFile, "file").pipe(Effect.mapError(failed(`use ${keyFile}`)))
  const certExists = yield* OwnedPath.check(certFile, "file").pipe(Effect.mapError(failed(`use ${certFile}`)))

  if (keyExists && certExists) {
    const cert = yield* fs.readFileString(certFile).pipe(Effect.mapError(failed(`read ${certFile}`)))
    const key = yield* fs.readFileString(keyFile).pipe(Effect.mapError(failed(`read ${keyFile}`)))
    const parsed = yield* Effect.option(certificateOf(cert, key, certFile))
    if (parsed._tag === "Some" && stillGood(parsed.value, options, now)) {
      return {
        cert,
        key: Redacted.make(key, { label: "tls-key" }),
        fingerprint: parsed.value.fingerprint256,
        expiresAt: Date.parse(parsed.value.validTo)
      } satisfies Certificate
    }
  }

  // Backdated a minute: a phone whose clock is a little behind still accepts it.
  const issued = X509.selfSigned({
    commonName: options.commonName,
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses,
    notBefore: now - 60_000,
    notAfter: now + validityMillis
  })
  // The key first: a certificate on disk always has its key beside it.
  yield* writePrivate(keyFile, issued.privateKey).pipe(Effect.mapError(failed(`write ${keyFile}`)))
  yield* writePrivate(certFile, issued.certificate).pipe(Effect.mapError(failed(`write ${certFile}`)))
  yield* Effect.logInfo(`Made a self-signed TLS certificate in ${certFile}`)
  return {
    cert: issued.certificate,
    key: Redacted.make(issued.privateKey, { label: "tls-key" }),
    fingerprint: X509.fingerprint(issued.certificate),
    expiresAt: now + validityMillis
  } satisfies Certificate
})
