/**
 * The resource rule of `HttpAuth.requireAccess`, pure: any/every, super-scopes, admin, empty and
 * invalid ids, and (at compile time) that a plain array is not `Resources`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { HttpAuth } from "../src/index.ts"
import { ResourceAccess } from "../src/index.ts"

interface Input {
  readonly body: { readonly tasks: ReadonlyArray<string> }
  readonly params: Record<string, string | undefined>
}
const input = (...tasks: ReadonlyArray<string>): Input => ({ body: { tasks }, params: {} })
const one = ResourceAccess.anyResource<Input>("tasks", ({ body }) => body.tasks)
const every = ResourceAccess.everyResource<Input>("tasks", ({ body }) => body.tasks, { collection: true })
const strict = ResourceAccess.everyResource<Input>("tasks", ({ body }) => body.tasks, { collection: false })
const decide = (held: ReadonlyArray<string>, resources: ResourceAccess.Resources<Input>, value: Input) =>
  ResourceAccess.decide(held, { action: "write", resources, superScopes: ["write:runs"] }, value)

// A plain array is not `Resources`: a route author must choose any or every.
export const plainArrayRefused: HttpAuth.AccessOptions<Input> = {
  action: "write",
  // @ts-expect-error a plain array of resources does not type-check
  resources: ["tasks"]
}

describe("ResourceAccess.decide", () => {
  it("any: one covered id is enough; every: each id must be covered", () => {
    assert.isUndefined(decide(["write:tasks:foo"], one, input("foo")))
    assert.deepStrictEqual(decide(["write:tasks:foo"], one, input("bar")), ["write:tasks:bar"])
    assert.isUndefined(decide(["write:tasks:foo"], every, input("foo", "foo")))
    assert.deepStrictEqual(decide(["write:tasks:foo"], every, input("foo", "bar")), ["write:tasks:bar"])
    assert.isUndefined(decide(["write:tasks"], every, input("foo", "bar")))
    // Without `collection`, the type-wide grant does not stand in for the collection.
    assert.deepStrictEqual(decide(["write:tasks"], strict, input("foo")), ["write:tasks:foo"])
    assert.isUndefined(decide(["write:tasks:foo"], strict, input("foo")))
  })

  it("admin always passes; a super-scope passes its route; another type or action never stands in", () => {
    assert.isUndefined(decide(["admin"], every, input("x", "y")))
    assert.isUndefined(decide(["write:runs"], every, input("x")))
    assert.deepStrictEqual(decide(["write:runs:x"], one, input("x")), ["write:tasks:x"])
    assert.deepStrictEqual(decide(["read:tasks"], one, input("x")), ["write:tasks:x"])
    assert.deepStrictEqual(decide(["write:runs:x", "read:tasks:x"], one, input("x")), ["write:tasks:x"])
  })

  it("no id, or an id that cannot stand in a scope, is denied", () => {
    assert.deepStrictEqual(decide(["write:tasks"], every, input()), ["write:tasks"])
    assert.deepStrictEqual(decide(["write:tasks"], one, input()), ["write:tasks"])
    for (const bad of ["a:b", "", "x y", "é", "a".repeat(129)]) {
      assert.deepStrictEqual(decide(["write:tasks"], one, input(bad)), ["write:tasks"], bad)
    }
  })

  it("property: every implies any, and adding ids never turns a denial of every into a pass", () => {
    const id = fc.constantFrom("a", "b", "c", "d")
    const held = fc.array(fc.constantFrom("write:tasks:a", "write:tasks:b", "write:tasks", "read:tasks:c"))
    fc.assert(fc.property(held, fc.array(id, { minLength: 1 }), id, (scopes, ids, extra) => {
      if (decide(scopes, every, input(...ids)) === undefined) {
        assert.isUndefined(decide(scopes, one, input(...ids)))
      } else {
        assert.isDefined(decide(scopes, every, input(...ids, extra)))
      }
    }))
  })

  it("a resource type must be a lower-case word", () => {
    assert.throws(() => ResourceAccess.anyResource("Tasks", () => "x"))
    assert.throws(() => ResourceAccess.everyResource("a:b", () => [], { collection: true }))
  })
})
