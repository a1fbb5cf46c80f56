/**
 * The WebSocket limits on the reference server run as a child process (`gatehouse serve`), so the
 * memory measured is the server's alone: a peer that stops reading while it floods `/ws` is closed
 * once its unread output passes the buffer limit, and the server does not keep what it buffered.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Support from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { exited, openSocket, pairingUrl, pairWith, request, serve } from "./helpers.ts"

const frameSize = 64 * 1024
const maxFrames = 2_000
const mib = 1024 * 1024

/** The resident set of process `pid`, in bytes (Linux). */
const residentBytes = (pid: number) => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match![1]) * 1024
}

/**
 * A client text frame with `payload` bytes of "a": masked, as a client's must be, with the zero
 * key (the payload goes out as is).
 */
const maskedTextFrame = (payload: number) => {
  const header = Buffer.alloc(14)
  header[0] = 0x81
  header[1] = 0x80 | 127
  header.writeBigUInt64BE(BigInt(payload), 2)
  return Buffer.concat([header, Buffer.alloc(payload, "a")])
}

/**
 * A WebSocket that never reads: the upgrade handshake over a raw TCP socket, which is then paused,
 * so everything the server sends piles up on the server's side once the kernel buffers are full.
 */
const pausedReader = (port: number, ticket: string) =>
  Effect.acquireRelease(
    Effect.callback<Net.Socket>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      let head = ""
      const onData = (chunk: Buffer) => {
        head += chunk.toString("latin1")
        if (!head.includes("\r\n\r\n")) return
        socket.off("data", onData)
        socket.pause()
        if (head.startsWith("HTTP/1.1 101")) resume(Effect.succeed(socket))
        else resume(Effect.die(new Error(`upgrade refused: ${head}`)))
      }
      socket.on("data", onData)
      socket.once("error", (error) => resume(Effect.die(error)))
      socket.once("connect", () =>
        socket.write(
          `GET /ws?wsTicket=${ticket} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
        ))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/**
 * Writes up to `maxFrames` frames, waiting for the client's own buffer to drain between them, and
 * stops when the server ends the connection: the number of frames sent, or `undefined` if the
 * connection was still up after all of them.
 */
const flood = (socket: Net.Socket, frame: Buffer) =>
  Effect.promise(() =>
    new Promise<number | undefined>((resolve) => {
      let sent = 0
      let ended = false
      const end = () => {
        if (ended) return
        ended = true
        resolve(sent)
      }
      // A paused socket still reports a reset (the write fails) and its close.
      socket.once("error", end)
      socket.once("close", end)
      const next = () => {
        while (!ended && sent < maxFrames) {
          sent++
          if (!socket.write(frame)) return void socket.once("drain", next)
        }
        if (!ended && sent >= maxFrames) {
          ended = true
          resolve(undefined)
        }
      }
      next()
    })
  )

describe("WebSocket limits on the reference server", () => {
  it.live(
    "a paused reader flooding /ws is closed, and the server's memory grows by under 64 MiB",
    () =>
      Effect.gen(function*() {
        const served = yield* serve(["--port", "0", "--state-dir", yield* Support.tempDirectory])
        const pairing = yield* pairingUrl(served)
        const admin = yield* pairWith(pairing.origin, pairing.token)
        const ticket = yield* request(`${pairing.origin}/api/auth/ws-ticket`, {
          method: "POST",
          headers: Support.bearer(admin.token),
          body: {}
        })
        const socket = yield* pausedReader(pairing.port, ticket.json.ticket)
        const pid = served.child.pid!
        const baseline = residentBytes(pid)
        let peak = baseline
        const sampler = setInterval(() => (peak = Math.max(peak, residentBytes(pid))), 20)
        const started = Date.now()
        const sent = yield* flood(socket, maskedTextFrame(frameSize)).pipe(
          Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.succeed("timeout" as const) }),
          Effect.ensuring(Effect.sync(() => clearInterval(sampler)))
        )
        peak = Math.max(peak, residentBytes(pid))
        assert.notStrictEqual(sent, "timeout", "the flood was still going after 20 s")
        assert.isDefined(sent, `the server took all ${maxFrames} frames without closing the socket`)
        assert.isBelow(Date.now() - started, 20_000)
        assert.isBelow(peak - baseline, 64 * mib, `grew from ${baseline / mib} MiB to ${peak / mib} MiB`)
        // The server let the socket go: the session no longer shows as connected.
        const deadline = Date.now() + 5_000
        while (true) {
          const listed = yield* request(`${pairing.origin}/api/auth/sessions`, { headers: Support.bearer(admin.token) })
          if (!listed.json.sessions.find((s: { id: string }) => s.id === admin.id).connected) break
          assert.isBelow(Date.now(), deadline, "the session still shows as connected after 5 s")
          yield* Effect.sleep("50 millis")
        }
        yield* Effect.logInfo(`flood: ${sent} frames, peak growth ${((peak - baseline) / mib).toFixed(1)} MiB`)
      }),
    40_000
  )

  it.live(
    "gatehouse serve --ws-max-per-session 1: a second socket of the session is refused with 429; a bad value is a usage error",
    () =>
      Effect.gen(function*() {
        const served = yield* serve([
          "--port",
          "0",
          "--state-dir",
          yield* Support.tempDirectory,
          "--ws-max-per-session",
          "1"
        ])
        const pairing = yield* pairingUrl(served)
        const { token } = yield* pairWith(pairing.origin, pairing.token)
        const first = yield* openSocket(pairing.origin, token)
        assert.strictEqual(first.socket.readyState, WebSocket.OPEN)
        const ticket = yield* request(`${pairing.origin}/api/auth/ws-ticket`, {
          method: "POST",
          headers: Support.bearer(token),
          body: {}
        })
        assert.strictEqual(ticket.status, 200, ticket.text)
        const upgrade = yield* Effect.promise(() =>
          new Promise<number | undefined>((resolve, reject) => {
            const target = new URL(`${pairing.origin}/ws?wsTicket=${ticket.json.ticket}`)
            const asked = Http.request({
              host: target.hostname,
              port: target.port,
              path: `${target.pathname}${target.search}`,
              headers: {
                connection: "Upgrade",
                upgrade: "websocket",
                "sec-websocket-version": "13",
                "sec-websocket-key": Crypto.randomBytes(16).toString("base64")
              }
            })
            asked.on("response", (response) => {
              response.resume()
              resolve(response.statusCode)
            })
            asked.on("upgrade", (_response, socket) => {
              socket.destroy()
              resolve(101)
            })
            asked.on("error", reject)
            asked.end()
          })
        )
        assert.strictEqual(upgrade, 429)

        const refused = yield* serve([
          "--port",
          "0",
          "--state-dir",
          yield* Support.tempDirectory,
          "--ws-max-per-address",
          "0"
        ])
        const exit = yield* exited(refused)
        assert.notStrictEqual(exit.code, 0)
        assert.include(refused.stderr(), "--ws-max-per-address must be a whole number of at least 1 (got 0)")
      }).pipe(Effect.scoped),
    40_000
  )
})
