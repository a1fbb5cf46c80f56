/**
 * A loopback HTTPS server publishing client ID metadata documents for the OAuth tests, with a
 * certificate made by openssl for the run: `/client.json` (valid, `max-age=120`),
 * `/mismatch.json` (its `client_id` is another URL), `/big.json` (over 5 KB) and
 * `/redirect.json` (a 302 to the valid one). `fetched` lists the paths asked for.
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Https from "node:https"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

/** A self-signed certificate for 127.0.0.1, made for this run by openssl. */
export const selfSigned = Effect.promise(async () => {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-cimd-"))
  try {
    const key = Path.join(directory, "key.pem")
    const cert = Path.join(directory, "cert.pem")
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert
    ])
    return { key: Fs.readFileSync(key, "utf8"), cert: Fs.readFileSync(cert, "utf8") }
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
})

/** The loopback HTTPS server publishing the documents; `base` is its origin. */
export const documentServer = (tls: { key: string; cert: string }) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ server: Https.Server; base: string; fetched: Array<string> }>((resolve) => {
        const fetched: Array<string> = []
        let base = ""
        const server = Https.createServer(tls, (request, response) => {
          fetched.push(request.url ?? "")
          const doc = (clientId: string, extra: Record<string, unknown> = {}) =>
            JSON.stringify({
              client_id: clientId,
              client_name: "Document agent",
              redirect_uris: ["http://localhost/callback"],
              token_endpoint_auth_method: "none",
              ...extra
            })
          const json = { "content-type": "application/json", "cache-control": "max-age=120" }
          switch (request.url) {
            case "/client.json":
              return response.writeHead(200, json).end(doc(`${base}/client.json`))
            case "/mismatch.json":
              return response.writeHead(200, json).end(doc(`${base}/client.json`))
            case "/big.json":
              return response.writeHead(200, json).end(doc(`${base}/big.json`, { padding: "x".repeat(6000) }))
            case "/redirect.json":
              return response.writeHead(302, { location: `${base}/client.json` }).end()
            default:
              return response.writeHead(404).end()
          }
        })
        server.listen(0, "127.0.0.1", () => {
          base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
          resolve({ server, base, fetched })
        })
      })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )
