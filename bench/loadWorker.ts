/**
 * The load generator of bench/authenticatedRoute.ts, run as a child process (IPC channel) so that
 * it shares neither the server's event loop nor its heap, and so that the server's CPU time can be
 * read apart from the client's. Each job sends exactly `requests` GET requests over `concurrency`
 * keep-alive connections (bounded: no job runs open-ended) and reports how many were not 200.
 * The process exits when its parent disconnects.
 */
import * as Http from "node:http"

export interface Job {
  readonly id: number
  readonly url: string
  readonly headers: Record<string, string>
  readonly requests: number
  readonly concurrency: number
}

export interface Done {
  readonly id: number
  readonly failures: number
  readonly firstFailure?: string | undefined
}

const agent = new Http.Agent({ keepAlive: true, maxSockets: 64 })

const get = (url: URL, headers: Record<string, string>) =>
  new Promise<number>((resolve, reject) => {
    const request = Http.request(
      { host: url.hostname, port: url.port, path: url.pathname, headers, agent },
      (response) => {
        response.resume()
        response.on("end", () => resolve(response.statusCode ?? 0))
        response.on("error", reject)
      }
    )
    request.setTimeout(10_000, () => request.destroy(new Error("timed out")))
    request.on("error", reject)
    request.end()
  })

const run = async (job: Job): Promise<Done> => {
  const url = new URL(job.url)
  let next = 0
  let failures = 0
  let firstFailure: string | undefined
  const connection = async () => {
    while (next < job.requests) {
      next++
      try {
        const status = await get(url, job.headers)
        if (status !== 200) {
          failures++
          firstFailure ??= `status ${status}`
        }
      } catch (error) {
        failures++
        firstFailure ??= String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.requests) }, connection))
  return { id: job.id, failures, firstFailure }
}

process.on("message", (job: Job) => {
  run(job).then((done) => process.send!(done))
})
process.on("disconnect", () => process.exit(0))
