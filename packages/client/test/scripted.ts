/**
 * A scripted `fetch`: every call waits until the test answers it, in whatever order the test
 * chooses, so races (two callers, a late answer after a clear) are written out step by step.
 */
import { vi } from "vitest"
import type { AuthDescriptor, FetchLike, RequestInitLike, SessionView } from "../src/index.ts"

export interface Call {
  readonly url: string
  readonly init: RequestInitLike
  /** The parsed JSON body, if any. */
  readonly body: any
  readonly respond: (status: number, body?: unknown, headers?: Record<string, string>) => Promise<void>
  /** Fails as `fetch` does when the server cannot be reached. */
  readonly fail: () => Promise<void>
}

/** Lets every pending promise callback run (timers may be fake; `setImmediate` is not). */
export const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

export const scripted = () => {
  const calls: Array<Call> = []
  const fetch: FetchLike = (url, init) =>
    new Promise((resolve, reject) => {
      calls.push({
        url,
        init,
        body: init.body === undefined ? undefined : JSON.parse(init.body),
        respond: async (status, body, headers = {}) => {
          resolve(
            new Response(body === undefined ? null : JSON.stringify(body), {
              status,
              headers: { "content-type": "application/json", ...headers }
            })
          )
          await flush()
        },
        fail: async () => {
          reject(new TypeError("Failed to fetch"))
          await flush()
        }
      })
    })
  /** The call at `index`, failing the test clearly when it was never made. */
  const call = (index: number): Call => {
    const found = calls[index]
    if (found === undefined) throw new Error(`fetch call ${index} was not made (${calls.length} made)`)
    return found
  }
  return { fetch, calls, call }
}

/** Fake `setTimeout` and `Date` only: `setImmediate` stays real, so `flush` works. */
export const fakeTime = (now = Date.UTC(2026, 0, 1)) => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now })
}

/** Advances the fake clock and lets what it woke up run. */
export const advance = async (millis: number) => {
  await vi.advanceTimersByTimeAsync(millis)
  await flush()
}

export const base = "http://127.0.0.1:3773"

export const descriptor: AuthDescriptor = {
  policy: "loopback-browser",
  bootstrapMethods: ["pairing-code"],
  sessionMethods: ["cookie", "bearer"],
  sessionCookieName: "gatehouse_session_3773"
}

export const sessionView: SessionView = {
  id: "s1" as SessionView["id"],
  subject: "owner",
  scopes: ["read:hello"],
  method: "pairing-code",
  transport: "cookie",
  createdAt: 1,
  lastSeenAt: 1,
  expiresAt: 2,
  client: {},
  connected: false
}
