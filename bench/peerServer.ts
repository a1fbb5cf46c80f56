/**
 * One server of bench/peer.ts, in a process of its own (so that its RSS and its core are its own):
 * `node bench/peerServer.ts <kind>`, forked with an IPC channel. Every kind binds 127.0.0.1 on a
 * free port and answers `GET /bench/hello` with `{"hello":"owner"}`:
 *
 * - `gatehouse`: `GatehouseServer.serve` (the reference stack: SQLite stores in a fresh state
 *   directory, secrets generated there for this run, the rate limiter, Host guard, Origin checks
 *   and deny by default as shipped) around one route guarded by `requireScopes(["read:hello"])`;
 * - `better-auth` / `better-auth-cookie-cache`: better-auth on `node:sqlite` (email and password,
 *   the `bearer` plugin, a fresh database and secret), a `node:http` handler that calls
 *   `auth.api.getSession` and answers 401 without a session; the second with `cookieCache` on;
 * - `bare`: `node:http` answering the JSON with no auth (the ceiling);
 * - `canned`: a `net` server writing one canned response per request head it reads, no HTTP
 *   parsing (the load generator's own ceiling).
 *
 * It sends its port and the credentials of its clients over IPC (never to a terminal), answers
 * `"rss"` with its resident set size, and exits when the parent disconnects.
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { body, type Kind, path, type Ready, temporary } from "./peerShared.ts"

const gatehouse = async (): Promise<Ready> => {
  const { gatehouseConfiguration, gatehouseInstance } = await import("./peerGatehouse.ts")
  const stateDir = temporary()
  const { bad, close, cookieName, port, revoked, valid } = await gatehouseInstance(stateDir)
  const cookie = (token: string) => ({ cookie: `${cookieName}=${token}` })
  const bearerOf = (token: string) => ({ authorization: `Bearer ${token}` })
  onExit = () => close().finally(() => Fs.rmSync(stateDir, { recursive: true, force: true }))
  return {
    port,
    clients: { bearer: bearerOf(valid), cookie: cookie(valid) },
    bad: [bearerOf(bad), cookie(bad)],
    revoked: [bearerOf(revoked), cookie(revoked)],
    configuration: gatehouseConfiguration
  }
}

const betterAuthServer = async (cookieCache: boolean): Promise<Ready> => {
  const { betterAuthConfiguration, betterAuthInstance } = await import("./peerBetterAuth.ts")
  const { fromNodeHeaders } = await import("better-auth/node")
  const directory = temporary()
  let getSession: (headers: Headers) => Promise<unknown> = () => Promise.resolve(null)
  const server = Http.createServer((request, response) => {
    if (request.method !== "GET" || request.url !== path) {
      response.writeHead(404).end()
      return
    }
    getSession(fromNodeHeaders(request.headers)).then(
      (session) => {
        if (session === null) {
          response.writeHead(401, { "content-type": "application/json" }).end(unauthorized)
        } else {
          response.writeHead(200, { "content-type": "application/json" }).end(body)
        }
      },
      () => response.writeHead(500).end()
    )
  })
  const port = await listen(server)
  const { auth, bad, database, gone, valid } = await betterAuthInstance(
    directory,
    `http://127.0.0.1:${port}`,
    cookieCache
  )
  getSession = (headers) => auth.api.getSession({ headers })
  onExit = () =>
    new Promise<void>((resolve) => server.close(() => resolve())).finally(() => {
      database.close()
      Fs.rmSync(directory, { recursive: true, force: true })
    })
  const configuration = `${betterAuthConfiguration(cookieCache)}; a node:http handler calling ` +
    "auth.api.getSession({ headers: fromNodeHeaders(request.headers) }), 401 without a session"
  const badCookie = { cookie: `better-auth.session_token=${encodeURIComponent(bad)}` }
  return cookieCache
    ? {
      port,
      clients: { cookie: { cookie: valid.allCookies } },
      bad: [badCookie],
      // Without its session_data cookie a revoked session is looked up, and refused.
      revoked: [{ cookie: gone.tokenCookie }],
      staleAfterRevoke: { cookie: gone.allCookies },
      configuration
    }
    : {
      port,
      clients: { bearer: { authorization: `Bearer ${valid.token}` }, cookie: { cookie: valid.tokenCookie } },
      bad: [{ authorization: `Bearer ${bad}` }, badCookie],
      revoked: [{ authorization: `Bearer ${gone.token}` }, { cookie: gone.tokenCookie }],
      configuration
    }
}

const bare = async (): Promise<Ready> => {
  const server = Http.createServer((request, response) => {
    if (request.method === "GET" && request.url === path) {
      response.writeHead(200, { "content-type": "application/json" }).end(body)
    } else {
      response.writeHead(404).end()
    }
  })
  const port = await listen(server)
  onExit = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return { port, clients: {}, bad: [], revoked: [], configuration: "node:http, no auth, the same JSON" }
}

const canned = async (): Promise<Ready> => {
  const response = Buffer.from(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`,
    "latin1"
  )
  const server = Net.createServer((socket) => {
    socket.setNoDelay(true)
    let carry = ""
    socket.on("data", (chunk) => {
      // One canned answer per request head; the head is never parsed.
      const text = carry + chunk.toString("latin1")
      let at = 0
      for (;;) {
        const end = text.indexOf("\r\n\r\n", at)
        if (end < 0) break
        socket.write(response)
        at = end + 4
      }
      carry = text.slice(at)
    })
    socket.on("error", () => socket.destroy())
  })
  const port = await listen(server)
  onExit = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return { port, clients: {}, bad: [], revoked: [], configuration: "net.createServer writing a canned response" }
}

const unauthorized = JSON.stringify({ error: "unauthorized" })

let onExit: () => Promise<unknown> = () => Promise.resolve()

const listen = (server: Net.Server) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve((server.address() as Net.AddressInfo).port))
  })

const starts: Record<Kind, () => Promise<Ready>> = {
  gatehouse,
  "better-auth": () => betterAuthServer(false),
  "better-auth-cookie-cache": () => betterAuthServer(true),
  bare,
  canned
}

if (process.send !== undefined && process.argv[2] !== undefined) {
  const kind = process.argv[2] as Kind
  process.on("disconnect", () => {
    onExit().finally(() => process.exit(0))
  })
  process.on("message", (message: string) => {
    if (message === "rss") process.send!({ rss: process.memoryUsage().rss })
  })
  starts[kind]().then(
    (ready) => process.send!({ ready }),
    (error) => {
      console.error(`peerServer ${kind}:`, error)
      process.exit(1)
    }
  )
}
