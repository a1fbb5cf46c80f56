/**
 * better-auth for bench/peer.ts: built the same way by its server processes (bench/peerServer.ts)
 * and by its in-process part.
 */
import { betterAuth, type BetterAuthOptions } from "better-auth"
import { getMigrations } from "better-auth/db/migration"
import { bearer } from "better-auth/plugins"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { cookieCacheMaxAgeSeconds } from "./peerShared.ts"

export const betterAuthVersion: string = JSON.parse(
  Fs.readFileSync(Path.join(import.meta.dirname, "..", "node_modules", "better-auth", "package.json"), "utf8")
).version

/**
 * better-auth on a fresh node:sqlite database in `directory`, with one signed-up user, a valid
 * session and a revoked one (also used in-process by bench/peer.ts).
 */
export const betterAuthInstance = async (directory: string, baseURL: string, cookieCache: boolean) => {
  const database = new DatabaseSync(Path.join(directory, "better-auth.db"))
  const options: BetterAuthOptions = {
    database,
    secret: Crypto.randomBytes(32).toString("base64url"),
    baseURL,
    emailAndPassword: { enabled: true },
    plugins: [bearer()],
    telemetry: { enabled: false },
    ...(cookieCache ? { session: { cookieCache: { enabled: true, maxAge: cookieCacheMaxAgeSeconds } } } : {})
  }
  const { runMigrations } = await getMigrations(options)
  await runMigrations()
  const auth = betterAuth(options)
  const credentials = { email: "owner@example.test", password: Crypto.randomBytes(18).toString("base64url") }
  const signedIn = (response: Response) => {
    if (response.status !== 200) throw new Error(`better-auth sign-in answered ${response.status}`)
    const cookies = response.headers.getSetCookie().map((line) => line.split(";")[0]!)
    return {
      token: response.headers.get("set-auth-token")!,
      tokenCookie: cookies.filter((c) => c.startsWith("better-auth.session_token=")).join("; "),
      allCookies: cookies.join("; ")
    }
  }
  const valid = signedIn(await auth.api.signUpEmail({ body: { ...credentials, name: "owner" }, asResponse: true }))
  const gone = signedIn(await auth.api.signInEmail({ body: credentials, asResponse: true }))
  await auth.api.revokeSession({
    headers: new Headers({ cookie: valid.tokenCookie }),
    body: { token: gone.token.slice(0, gone.token.indexOf(".")) }
  })
  const bad = `${Crypto.randomBytes(24).toString("base64url")}.${Crypto.randomBytes(32).toString("base64")}`
  return { auth, database, valid, gone, bad }
}

export const betterAuthConfiguration = (cookieCache: boolean) =>
  `better-auth ${betterAuthVersion} on node:sqlite (a fresh DatabaseSync, schema from getMigrations, a secret ` +
  `generated for this run), emailAndPassword, bearer plugin, telemetry off, ` +
  (cookieCache
    ? `session.cookieCache { enabled: true, maxAge: ${cookieCacheMaxAgeSeconds} } (it helps only a client that holds ` +
      `the session_data cookie: the cookie client; a bearer client is looked up as without it)`
    : "database sessions (the default, no cookieCache)")
