/**
 * The load generator of bench/peer.ts: a child process (IPC channel) that speaks HTTP/1.1 itself
 * over raw `net` sockets, so that it costs far less per request than the servers it drives (its
 * own ceiling, against a canned-response `net` server, is measured in the same run). Each job
 * opens `concurrency` keep-alive connections from 127.0.0.1, sends exactly `requests` copies of
 * one GET over them (one in flight per connection, no pipelining), checks every answer's status
 * and body, closes the connections, and reports how many answers were not the expected one.
 * It never prints a request (they carry tokens). The process exits when its parent disconnects.
 */
import * as Net from "node:net"

export interface Job {
  readonly id: number
  readonly port: number
  /** The whole request, head and blank line. */
  readonly request: string
  readonly requests: number
  readonly concurrency: number
  readonly expectStatus: number
  readonly expectBody: string
  /** Requests sent in turn instead of `request` (each one whole, like `request`). */
  readonly variants?: ReadonlyArray<string> | undefined
  /** Loopback source addresses, one per connection in turn (default: the system's choice). */
  readonly localAddresses?: ReadonlyArray<string> | undefined
}

export interface Done {
  readonly id: number
  readonly failures: number
  /** The first unexpected answer: status and the start of its body (never a request). */
  readonly firstFailure?: string | undefined
}

const headEnd = Buffer.from("\r\n\r\n")

/** One parsed response from the front of `buffer`, or undefined when it is not all there yet. */
const parse = (buffer: Buffer): { status: number; body: string; length: number } | undefined => {
  const end = buffer.indexOf(headEnd)
  if (end < 0) return undefined
  const head = buffer.toString("latin1", 0, end)
  const status = Number(head.slice(9, 12))
  const lower = head.toLowerCase()
  const lengthAt = lower.indexOf("\r\ncontent-length:")
  if (lengthAt >= 0) {
    const lineEnd = lower.indexOf("\r\n", lengthAt + 2)
    const length = Number(lower.slice(lengthAt + 17, lineEnd < 0 ? undefined : lineEnd).trim())
    const total = end + 4 + length
    if (buffer.length < total) return undefined
    return { status, body: buffer.toString("utf8", end + 4, total), length: total }
  }
  if (lower.includes("\r\ntransfer-encoding: chunked")) {
    let at = end + 4
    let body = ""
    for (;;) {
      const sizeEnd = buffer.indexOf("\r\n", at)
      if (sizeEnd < 0) return undefined
      const size = parseInt(buffer.toString("latin1", at, sizeEnd), 16)
      if (buffer.length < sizeEnd + 2 + size + 2) return undefined
      if (size === 0) return { status, body, length: sizeEnd + 4 }
      body += buffer.toString("utf8", sizeEnd + 2, sizeEnd + 2 + size)
      at = sizeEnd + 2 + size + 2
    }
  }
  return { status, body: "", length: end + 4 }
}

const run = (job: Job): Promise<Done> =>
  new Promise((resolve) => {
    let sent = 0
    let answered = 0
    let failures = 0
    let firstFailure: string | undefined
    const sockets: Array<Net.Socket> = []
    const requests = (job.variants ?? [job.request]).map((text) => Buffer.from(text, "latin1"))
    let opened = 0
    let finished = false
    const finish = () => {
      if (finished) return
      finished = true
      for (const socket of sockets) socket.destroy()
      resolve({ id: job.id, failures, firstFailure })
    }
    const fail = (why: string) => {
      failures++
      firstFailure ??= why
    }
    const connection = () => {
      const localAddress = job.localAddresses?.[opened++ % job.localAddresses.length]
      const socket = Net.connect({
        host: "127.0.0.1",
        port: job.port,
        noDelay: true,
        ...(localAddress === undefined ? {} : { localAddress })
      })
      sockets.push(socket)
      let buffer: Buffer = Buffer.alloc(0)
      let inFlight = false
      let gone = false
      const next = () => {
        if (sent < job.requests) {
          inFlight = true
          socket.write(requests[sent % requests.length]!)
          sent++
        }
      }
      socket.on("connect", next)
      socket.on("data", (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
        for (;;) {
          const response = parse(buffer)
          if (response === undefined) break
          buffer = buffer.subarray(response.length)
          inFlight = false
          answered++
          if (response.status !== job.expectStatus || response.body !== job.expectBody) {
            fail(`status ${response.status}, body ${JSON.stringify(response.body.slice(0, 80))}`)
          }
          if (answered === job.requests) return finish()
          next()
        }
      })
      const lost = (why: string) => {
        if (finished || gone) return
        gone = true
        // A request in flight on a connection that went away is an answer that never came.
        if (inFlight) {
          inFlight = false
          answered++
          fail(why)
          if (answered === job.requests) return finish()
        }
        if (sent < job.requests) connection()
      }
      socket.on("error", (error) => lost(String(error)))
      socket.on("close", () => lost("connection closed"))
    }
    for (let i = 0; i < Math.min(job.concurrency, job.requests); i++) connection()
  })

process.on("message", (job: Job) => {
  run(job).then((done) => process.send!(done))
})
process.on("disconnect", () => process.exit(0))
