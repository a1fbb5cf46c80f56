/**
 * Bytes over a plain TCP connection, for what no HTTP client will send: malformed request lines,
 * control bytes in headers, negative lengths. Answers whatever came back before the server closed
 * the connection (or 5 seconds passed).
 */
import { Effect } from "effect"
import * as Net from "node:net"

export interface RawExchange {
  /** The status of the first response line, 0 when the connection was cut without one. */
  readonly status: number
  /** Everything received. */
  readonly received: string
  /** What follows the first blank line, "" when there is none. */
  readonly body: string
}

/** Sends `bytes` to 127.0.0.1:`port`, half-closes, and collects the answer. */
export const rawExchange = (port: number, bytes: string | Buffer) =>
  Effect.promise(() =>
    new Promise<RawExchange>((resolve) => {
      const socket = Net.connect(port, "127.0.0.1")
      let received = ""
      const timer = setTimeout(() => socket.destroy(), 5_000)
      socket.on("data", (chunk) => (received += chunk.toString("latin1")))
      socket.on("close", () => {
        clearTimeout(timer)
        const status = /^HTTP\/1\.1 (\d{3})/.exec(received)
        const split = received.indexOf("\r\n\r\n")
        resolve({
          status: status === null ? 0 : Number(status[1]),
          received,
          body: split < 0 ? "" : received.slice(split + 4)
        })
      })
      socket.on("error", () => undefined)
      socket.end(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes)
    })
  )
