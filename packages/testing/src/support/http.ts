/**
 * A raw HTTP client for tests (node:http, so a test controls every header, Host included) and the
 * header helpers that go with it.
 */
import { Effect } from "effect"
import * as Http from "node:http"
import * as Https from "node:https"

export interface RawResponse {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  /** The body parsed as JSON, `undefined` when it is not JSON. */
  readonly json: any
  readonly setCookies: ReadonlyArray<string>
}

export interface RawRequest {
  readonly method?: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string | Buffer | undefined
  /** Default: `Host: 127.0.0.1:<port>`. */
  readonly host?: string | undefined
  /** HTTPS, accepting any certificate (a test's self-signed one). */
  readonly tls?: boolean
  /** The loopback address to connect to. Default: 127.0.0.1. */
  readonly address?: string | undefined
}

/**
 * One request to 127.0.0.1:`port` (or `address`) with exactly the headers given (plus Host and Content-Length);
 * times out after 10 seconds.
 */
export const request = (port: number, options: RawRequest) =>
  Effect.promise(() =>
    new Promise<RawResponse>((resolve, reject) => {
      const body = options.body === undefined ? undefined : Buffer.from(options.body)
      const headers: Record<string, string> = {
        host: options.host ?? `127.0.0.1:${port}`,
        ...(body === undefined ? {} : { "content-length": String(body.length) }),
        ...options.headers
      }
      const transport = options.tls ? Https : Http
      const req = transport.request({
        host: options.address ?? "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path,
        headers,
        rejectUnauthorized: false,
        setHost: false,
        timeout: 10_000
      }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let json: unknown = undefined
          try {
            json = JSON.parse(text)
          } catch {
            // not JSON
          }
          const setCookie = res.headers["set-cookie"]
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, setCookies: setCookie ?? [] })
        })
        res.on("error", reject)
      })
      req.on("timeout", () => req.destroy(new Error("request timed out")))
      req.on("error", reject)
      if (body !== undefined) req.write(body)
      req.end()
    })
  )

export const jsonHeaders = { "content-type": "application/json" }

/** POST a JSON body. */
export const postJson = (port: number, path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(port, { method: "POST", path, headers: { ...jsonHeaders, ...headers }, body: JSON.stringify(body) })

/** `Authorization: Bearer <token>`. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** The `name=value` part of a Set-Cookie header. */
export const cookiePair = (setCookie: string) => setCookie.split(";")[0]!
