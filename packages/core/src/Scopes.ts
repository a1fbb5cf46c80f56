/**
 * One scope grammar everywhere: `action:type[:id]` (`read:runs:run_1`, `write:tasks`) plus the
 * super-scope `admin`. `read:access` / `write:access` govern sessions, pairing links and MCP
 * credentials. A scope without an id covers every id of that type; `admin` covers everything.
 */
import { Schema } from "effect"

const scopePattern = /^(?:admin|[a-z][a-z0-9_-]{0,31}:[a-z][a-z0-9_-]{0,31}(?::[A-Za-z0-9_.@-]{1,128})?)$/

export const isScope = (input: unknown): input is string => typeof input === "string" && scopePattern.test(input)

export const Scope = Schema.String.check(Schema.isPattern(scopePattern, {
  description: "a scope: admin, or action:type[:id]"
}))

/** At most 64 scopes, each valid: what every credential, request body and token claim holds. */
export const Scopes = Schema.Array(Scope).check(Schema.isMaxLength(64))

export const isScopes = Schema.is(Scopes)

/** What a caller is told when `Scopes` refuses a list. */
export const problem = "scopes must be at most 64 valid scopes (admin, or action:type[:id])"

export const admin = "admin"
export const readAccess = "read:access"
export const writeAccess = "write:access"

/** What an ordinary pairing link grants: the application's own scopes. */
export const standard = (applicationScopes: ReadonlyArray<string>): ReadonlyArray<string> => dedupe(applicationScopes)

/** The standard bundle plus `read:access` and `write:access` (desktop bootstrap, startup URL, CLI). */
export const administrative = (applicationScopes: ReadonlyArray<string>): ReadonlyArray<string> =>
  dedupe([...applicationScopes, readAccess, writeAccess])

const dedupe = (scopes: ReadonlyArray<string>): ReadonlyArray<string> => [...new Set(scopes)]

/** Does a holder of `held` have `requested`? */
export const covers = (held: ReadonlyArray<string>, requested: string): boolean => {
  if (held.includes(admin) || held.includes(requested)) return true
  const parts = requested.split(":")
  return parts.length === 3 && held.includes(`${parts[0]}:${parts[1]}`)
}

/** Does a holder of `held` have every scope of `requested`? */
export const coversAll = (held: ReadonlyArray<string>, requested: ReadonlyArray<string>): boolean =>
  requested.every((scope) => covers(held, scope))

/** The scopes of `requested` that `held` does not cover. */
export const missing = (held: ReadonlyArray<string>, requested: ReadonlyArray<string>): ReadonlyArray<string> =>
  requested.filter((scope) => !covers(held, scope))
