/**
 * A self-signed X.509 certificate (RFC 5280), made here because Node parses certificates but
 * cannot create one: a minimal DER encoder (X.690) and the one certificate shape `--tls-self-signed`
 * needs. ECDSA P-256 with SHA-256 (through `node:crypto`), a random positive 127-bit serial, the
 * validity asked for, the subject as issuer (`CN=<name>`), and three extensions: basicConstraints
 * (critical, not a CA), keyUsage (critical, digitalSignature), extKeyUsage (serverAuth) and the
 * subjectAltName that browsers match the URL's host against (DNS names and IP addresses; the
 * common name is not looked at).
 *
 * Pure functions; the random serial and the key pair are the only inputs not passed in.
 */
import * as Crypto from "node:crypto"
import * as Net from "node:net"

// --- DER ---------------------------------------------------------------------------------------

const length = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n])
  const bytes: Array<number> = []
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

/** One tag-length-value. */
export const tlv = (tag: number, content: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from([tag]), length(content.length), content])

export const sequence = (...items: ReadonlyArray<Uint8Array>): Buffer => tlv(0x30, Buffer.concat(items))
const set = (...items: ReadonlyArray<Uint8Array>): Buffer => tlv(0x31, Buffer.concat(items))
/** `[n]` EXPLICIT (constructed). */
const explicit = (n: number, content: Uint8Array): Buffer => tlv(0xa0 | n, content)

/** A non-negative INTEGER from big-endian bytes: minimal, with a 0 byte where the high bit is set. */
export const integer = (bytes: Uint8Array): Buffer => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const body = Buffer.from(bytes.subarray(start))
  return tlv(0x02, body.length === 0 || (body[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), body]) : body)
}

export const objectIdentifier = (dotted: string): Buffer => {
  const arcs = dotted.split(".").map(Number)
  const out: Array<number> = [40 * arcs[0]! + arcs[1]!]
  for (const arc of arcs.slice(2)) {
    const groups: Array<number> = [arc & 0x7f]
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) groups.unshift(0x80 | (rest & 0x7f))
    out.push(...groups)
  }
  return tlv(0x06, Buffer.from(out))
}

const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, "utf8"))
const bitString = (bytes: Uint8Array): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]))
const octetString = (bytes: Uint8Array): Buffer => tlv(0x04, bytes)
const booleanTrue = tlv(0x01, Buffer.from([0xff]))

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), to the second, in UTC. */
export const time = (millis: number): Buffer => {
  const iso = new Date(millis).toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-:T]/g, "") + "Z"
  const year = Number(iso.slice(0, 4))
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), "ascii"))
    : tlv(0x18, Buffer.from(digits, "ascii"))
}

// --- addresses ---------------------------------------------------------------------------------

/** The 4 or 16 bytes of an IP address (IPv6 possibly bracketed), or undefined. */
export const ipBytes = (text: string): Buffer | undefined => {
  const address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text
  if (Net.isIPv4(address)) return Buffer.from(address.split(".").map(Number))
  if (!Net.isIPv6(address) || address.includes("%")) return undefined
  let groups = address
  // An embedded IPv4 tail (::ffff:1.2.3.4) as two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(groups)
  if (v4 !== null) {
    const [a, b, c, d] = v4[1]!.split(".").map(Number)
    groups = groups.slice(0, -v4[1]!.length) + `${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`
  }
  const [head, tail] = groups.split("::") as [string, string | undefined]
  const left = head === "" ? [] : head.split(":")
  const right = tail === undefined || tail === "" ? [] : tail.split(":")
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => "0")
  const all = [...left, ...fill, ...right]
  if (all.length !== 8) return undefined
  const out = Buffer.alloc(16)
  all.forEach((group, i) => out.writeUInt16BE(Number.parseInt(group, 16), 2 * i))
  return out
}

/** A name a certificate can carry as a dNSName: letters, digits, hyphens and dots, lower-cased. */
export const isDnsName = (name: string): boolean =>
  name.length > 0 && name.length <= 253 &&
  name.split(".").every((label) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(label))

// --- the certificate ---------------------------------------------------------------------------

const oids = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  serverAuth: "1.3.6.1.5.5.7.3.1"
} as const

const extension = (oid: string, critical: boolean, value: Uint8Array) =>
  sequence(objectIdentifier(oid), ...(critical ? [booleanTrue] : []), octetString(value))

export interface CertificateRequest {
  readonly commonName: string
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
  readonly notBefore: number
  readonly notAfter: number
}

export interface Issued {
  /** PEM. */
  readonly certificate: string
  /** PKCS #8 PEM of the private key. */
  readonly privateKey: string
}

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${
    Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n")
  }\n-----END ${label}-----\n`

/**
 * A new ECDSA P-256 key and a certificate for it, signed by itself. Names that cannot be a
 * dNSName and addresses that do not parse are left out (the caller passes what the machine says).
 */
export const selfSigned = (request: CertificateRequest): Issued => {
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" })
  const algorithm = sequence(objectIdentifier(oids.ecdsaWithSha256))
  const name = sequence(set(sequence(objectIdentifier(oids.commonName), utf8String(request.commonName))))
  // 16 random bytes, the top bit cleared: positive, at most 20 octets (RFC 5280 §4.1.2.2); never 0.
  const serial = Crypto.randomBytes(16)
  serial[0] = (serial[0]! & 0x7f) | 0x01
  const dns = [...new Set(request.dnsNames.map((each) => each.toLowerCase()).filter(isDnsName))]
  const ips = [...new Map(request.ipAddresses.flatMap((each) => {
    const bytes = ipBytes(each)
    return bytes === undefined ? [] : [[bytes.toString("hex"), bytes] as const]
  })).values()]
  const alternativeNames = sequence(
    ...dns.map((each) => tlv(0x82, Buffer.from(each, "ascii"))),
    ...ips.map((bytes) => tlv(0x87, bytes))
  )
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name,
    sequence(time(request.notBefore), time(request.notAfter)),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    explicit(
      3,
      sequence(
        extension(oids.basicConstraints, true, sequence()),
        // digitalSignature only: bit 0 set, 7 unused bits.
        extension(oids.keyUsage, true, tlv(0x03, Buffer.from([0x07, 0x80]))),
        extension(oids.extKeyUsage, false, sequence(objectIdentifier(oids.serverAuth))),
        extension(oids.subjectAltName, false, alternativeNames)
      )
    )
  )
  const signature = Crypto.sign("sha256", tbs, { key: privateKey, dsaEncoding: "der" })
  const certificate = sequence(tbs, algorithm, bitString(signature))
  return {
    certificate: pem("CERTIFICATE", certificate),
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString()
  }
}

/** The SHA-256 fingerprint of a PEM certificate, as browsers show it (`AB:CD:...`). */
export const fingerprint = (certificate: string): string => new Crypto.X509Certificate(certificate).fingerprint256

/** The DNS names and IP addresses (as hex bytes) a certificate's subjectAltName covers. */
export const coveredNames = (certificate: Crypto.X509Certificate) => {
  const dns = new Set<string>()
  const ips = new Set<string>()
  for (const entry of (certificate.subjectAltName ?? "").split(/,\s*/)) {
    if (entry.startsWith("DNS:")) dns.add(entry.slice(4).toLowerCase())
    else if (entry.startsWith("IP Address:")) {
      const bytes = ipBytes(entry.slice(11))
      if (bytes !== undefined) ips.add(bytes.toString("hex"))
    }
  }
  return { dns, ips }
}
