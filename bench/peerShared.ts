/** What bench/peer.ts, its servers (bench/peerServer.ts) and its stacks (bench/peerStacks.ts) share. */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export type Kind = "gatehouse" | "better-auth" | "better-auth-cookie-cache" | "bare" | "canned"

export const body = JSON.stringify({ hello: "owner" })
export const path = "/bench/hello"
export const applicationScopes = ["read:hello", "write:hello"]
/** better-auth's default `cookieCache.maxAge`, set explicitly so that the report can print it. */
export const cookieCacheMaxAgeSeconds = 300

export type HeaderRecord = Record<string, string>

export interface Ready {
  readonly port: number
  /** The authenticated clients' headers, by client name. Empty for `bare` and `canned`. */
  readonly clients: Record<string, HeaderRecord>
  /** Must each be answered 401. */
  readonly bad: ReadonlyArray<HeaderRecord>
  readonly revoked: ReadonlyArray<HeaderRecord>
  /** A revoked session presenting its cached session cookie (cookieCache): how stale the answer is. */
  readonly staleAfterRevoke?: HeaderRecord | undefined
  readonly configuration: string
}

export const temporary = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-peer-"))
