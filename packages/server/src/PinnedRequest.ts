/**
 * One HTTP(S) request from a `gatehouse` command to the server running on its state directory, at
 * the `baseUrl` that server announced in `server.json`. Over HTTPS the server's certificate is
 * pinned by the SHA-256 fingerprint announced beside it (a self-signed certificate verifies
 * against no authority, and a certificate for a LAN name need not name 127.0.0.1): the TLS
 * handshake completes, the peer's fingerprint is compared in constant time, and only then is the
 * request, with its bearer token, written. Any other certificate is a refusal; nothing is sent.
 */
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import * as Tls from "node:tls"

export interface Target {
  readonly baseUrl: string
  /** `AB:CD:...`, required for an `https:` base URL. */
  readonly tlsFingerprint?: string | undefined
}

export interface Answer {
  readonly status: number
  readonly text: string
}

const sameFingerprint = (a: string, b: string) => {
  const left = Buffer.from(a.toUpperCase())
  const right = Buffer.from(b.toUpperCase())
  return left.length === right.length && Crypto.timingSafeEqual(left, right)
}

/** Opens a TLS connection and resolves once the peer presented the pinned certificate. */
const pinnedSocket = (url: URL, fingerprint: string, signal: AbortSignal) =>
  new Promise<Tls.TLSSocket>((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, "")
    const socket = Tls.connect({
      host,
      port: Number(url.port || 443),
      // The pin below is the check: the certificate is self-signed, or names another host.
      rejectUnauthorized: false,
      ...(host.includes(":") || /^\d+\.\d+\.\d+\.\d+$/.test(host) ? {} : { servername: host })
    })
    const abort = () => socket.destroy(new Error("aborted"))
    signal.addEventListener("abort", abort, { once: true })
    socket.once("error", reject)
    socket.once("secureConnect", () => {
      signal.removeEventListener("abort", abort)
      const presented = socket.getPeerCertificate().fingerprint256 ?? ""
      if (!sameFingerprint(presented, fingerprint)) {
        socket.destroy()
        reject(new Error(`its certificate (${presented}) is not the one it announced (${fingerprint})`))
      } else {
        resolve(socket)
      }
    })
  })

export const request = async (
  target: Target,
  path: string,
  options: { readonly method: string; readonly headers: Record<string, string>; readonly signal: AbortSignal }
): Promise<Answer> => {
  const url = new URL(path, target.baseUrl)
  const https = url.protocol === "https:"
  if (https && target.tlsFingerprint === undefined) {
    throw new Error("it serves HTTPS but announced no certificate fingerprint")
  }
  const socket = https ? await pinnedSocket(url, target.tlsFingerprint!, options.signal) : undefined
  return new Promise<Answer>((resolve, reject) => {
    // node:http over the pinned TLS socket (with `createConnection` and no agent, Node uses that
    // socket as it is; node:https would open a connection of its own).
    const req = Http.request({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port || (https ? 443 : 80)),
      path: `${url.pathname}${url.search}`,
      method: options.method,
      headers: { host: url.host, ...options.headers },
      signal: options.signal,
      ...(socket === undefined ? {} : { createConnection: () => socket })
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end()
  })
}
