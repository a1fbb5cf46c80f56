/**
 * Resource-level authorization: which resources a request acts on, and the rule that decides whether
 * the caller's scopes cover them. Routes use it through `HttpAuth.requireAccess`:
 *
 *   auth.requireAccess({
 *     action: "write",
 *     body: NewRun,
 *     resources: ResourceAccess.anyResource("tasks", ({ body }) => body.task),
 *     superScopes: ["write:runs"]
 *   })(({ body }) => ...)
 *
 * One resource type per check, and the author must say how several ids combine: `anyResource` (one
 * of these ids is enough) or `everyResource` (each id must be covered). There is no way to list two
 * types, so a scope for one type can never stand in for another (the production bug where a route
 * naming runs and tasks was authorized when EITHER matched). A plain array is not `Resources`: it
 * does not type-check.
 *
 * The rule (`decide`): `admin` always passes; a route's super-scope (held exactly, or through
 * `admin`) passes that route; otherwise the ids are turned into scopes `action:type:id` and checked
 * with `Scopes.covers` (so `action:type` covers every id). No id, or an id that is not valid in a
 * scope, is denied.
 */
import { Scopes } from "@gatehouse-auth/core"

const ResourcesTypeId: unique symbol = Symbol.for("@gatehouse-auth/http/ResourceAccess/Resources")

/** What the callbacks are given: the decoded body (validated by its Schema) and the path parameters. */
export interface AccessInput<B, P> {
  readonly body: B
  readonly params: P
}

/** The resources a request acts on; only `anyResource` and `everyResource` make one. */
export interface Resources<I> {
  readonly [ResourcesTypeId]: typeof ResourcesTypeId
  readonly mode: "any" | "every"
  readonly type: string
  readonly ids: (input: I) => ReadonlyArray<string>
  /** `every` only: a grant for the whole type (`action:type`) stands in for the collection. */
  readonly collection: boolean
}

const namePattern = /^[a-z][a-z0-9_-]{0,31}$/
const idPattern = /^[A-Za-z0-9_.@-]{1,128}$/

const checkName = (what: string, name: string) => {
  if (!namePattern.test(name)) throw new TypeError(`${what} must be a lower-case word (got ${JSON.stringify(name)})`)
}

/** The request acts on one resource of `type`, named by any of the ids `id` returns: one covered id is enough. */
export const anyResource = <I>(
  type: string,
  id: (input: I) => string | ReadonlyArray<string>
): Resources<I> => {
  checkName("A resource type", type)
  return {
    [ResourcesTypeId]: ResourcesTypeId,
    mode: "any",
    type,
    ids: (input) => {
      const ids = id(input)
      return typeof ids === "string" ? [ids] : ids
    },
    collection: false
  }
}

/**
 * The request acts on every resource of `type` that `ids` returns: each must be covered. With
 * `collection: true` a grant for the whole type (`write:tasks`) stands in for the collection; with
 * `false` each id needs its own scope (`write:tasks:<id>`) or a super-scope.
 */
export const everyResource = <I>(
  type: string,
  ids: (input: I) => ReadonlyArray<string>,
  options: { readonly collection: boolean }
): Resources<I> => {
  checkName("A resource type", type)
  return { [ResourcesTypeId]: ResourcesTypeId, mode: "every", type, ids, collection: options.collection }
}

export const isResources = (value: unknown): value is Resources<unknown> =>
  typeof value === "object" && value !== null && ResourcesTypeId in value

export interface Rule<I> {
  readonly action: string
  readonly resources: Resources<I>
  /** Scopes that pass this route whatever the resources (`write:runs`); `admin` always does. */
  readonly superScopes?: ReadonlyArray<string> | undefined
}

/**
 * `undefined` when `held` may act on the resources of `input`; otherwise the scopes to name in the
 * 403 (the missing ones, or the type-wide scope when no usable id was given).
 */
export const decide = <I>(held: ReadonlyArray<string>, rule: Rule<I>, input: I): ReadonlyArray<string> | undefined => {
  checkName("An action", rule.action)
  if (held.includes(Scopes.admin)) return undefined
  if (rule.superScopes?.some((scope) => held.includes(scope)) === true) return undefined
  const { collection, mode, type } = rule.resources
  const typeScope = `${rule.action}:${type}`
  const ids = rule.resources.ids(input)
  if (ids.length === 0 || ids.some((id) => typeof id !== "string" || !idPattern.test(id))) return [typeScope]
  const scopes = [...new Set(ids)].map((id) => `${typeScope}:${id}`)
  if (mode === "any") return scopes.some((scope) => Scopes.covers(held, scope)) ? undefined : scopes
  if (collection && held.includes(typeScope)) return undefined
  const missing = scopes.filter((scope) => collection ? !Scopes.covers(held, scope) : !held.includes(scope))
  return missing.length === 0 ? undefined : missing
}
