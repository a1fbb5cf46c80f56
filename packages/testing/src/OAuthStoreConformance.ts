/**
 * The conformance suite of an `OAuthStore` (the OAuth authorization server's grants, codes and
 * refresh tokens): `run(name, makeStore)` registers its tests, with a fresh, empty store per test.
 * The memory store, SQLite and PostgreSQL run it unchanged. The "exactly once" rules are checked
 * with real concurrency: many fibers at once against one store (on PostgreSQL, a pool).
 */
import { assert, describe, it } from "@effect/vitest"
import { Ids, OAuthStore } from "@gatehouse-auth/core"
import { Context, Effect, Layer, Option } from "effect"

export interface Options {
  /** Skips the suite with this reason (the backend is not available here); `undefined` runs it. */
  readonly skip?: string | undefined
}

let counter = 0
const unique = (prefix: string) => `${prefix}${++counter}x${Math.random().toString(36).slice(2, 8)}`

const grant = (overrides: Partial<OAuthStore.OAuthGrant> = {}): OAuthStore.OAuthGrant => ({
  sid: Ids.SessionId.make(unique("s")),
  clientId: `gc1.kid.${unique("payload")}.sig`,
  clientName: "Claude Code",
  resource: "http://localhost:3773/mcp",
  approvedBy: Ids.SessionId.make(unique("approver")),
  createdAt: 1_000,
  ...overrides
})

const code = (sid: Ids.SessionId, overrides: Partial<OAuthStore.OAuthCode> = {}): OAuthStore.OAuthCode => ({
  codeHash: unique("code"),
  sid,
  clientId: "client-1",
  redirectUri: "http://127.0.0.1/callback",
  codeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
  resource: "http://localhost:3773/mcp",
  expiresAt: 61_000,
  ...overrides
})

const refresh = (sid: Ids.SessionId, overrides: Partial<OAuthStore.OAuthRefreshToken> = {}) => ({
  tokenHash: unique("rt"),
  sid,
  clientId: "client-1",
  createdAt: 1_000,
  ...overrides
})

export const run = (
  name: string,
  makeStore: () => Layer.Layer<OAuthStore.OAuthStore, unknown>,
  options: Options = {}
): void => {
  const store = Effect.map(
    Layer.build(makeStore()).pipe(Effect.orDie),
    (context) => Context.get(context, OAuthStore.OAuthStore)
  )
  const suite = options.skip === undefined ? describe : describe.skip
  suite(`OAuthStore conformance: ${name}${options.skip === undefined ? "" : ` (skipped: ${options.skip})`}`, () => {
    it.effect("a grant reads back exactly; grantsApprovedBy finds it by its approver; removeGrants forgets all of it", () =>
      Effect.scoped(Effect.gen(function*() {
        const oauth = yield* store
        const one = grant()
        const other = grant()
        yield* oauth.insertGrant(one)
        yield* oauth.insertGrant(other)
        assert.deepStrictEqual(Option.getOrThrow(yield* oauth.getGrant(one.sid)), one)
        assert.deepStrictEqual(yield* oauth.grantsApprovedBy([one.approvedBy]), [one.sid])
        assert.deepStrictEqual(yield* oauth.grantsApprovedBy([Ids.SessionId.make("nobody")]), [])
        const issued = code(one.sid)
        const token = refresh(one.sid)
        yield* oauth.insertCode(issued)
        yield* oauth.insertRefresh(token)
        yield* oauth.removeGrants([one.sid])
        assert.isTrue(Option.isNone(yield* oauth.getGrant(one.sid)))
        assert.isTrue(Option.isNone(yield* oauth.consumeCode(issued.codeHash, 2_000)))
        assert.isTrue(Option.isNone(yield* oauth.getRefresh(token.tokenHash)))
        assert.isTrue(Option.isSome(yield* oauth.getGrant(other.sid)))
      })))

    it.effect("a code: the first consume is first, every later one finds it consumed; an unknown code is None", () =>
      Effect.scoped(Effect.gen(function*() {
        const oauth = yield* store
        const issued = code(Ids.SessionId.make(unique("s")))
        yield* oauth.insertCode(issued)
        const first = Option.getOrThrow(yield* oauth.consumeCode(issued.codeHash, 2_000))
        assert.isTrue(first.first)
        assert.deepStrictEqual(first.code, issued)
        const again = Option.getOrThrow(yield* oauth.consumeCode(issued.codeHash, 3_000))
        assert.isFalse(again.first)
        assert.strictEqual(again.code.sid, issued.sid)
        assert.isTrue(Option.isNone(yield* oauth.consumeCode(unique("never"), 2_000)))
      })))

    it.effect("exactly once under concurrency: 16 fibers consume one code, one of them is first", () =>
      Effect.scoped(Effect.gen(function*() {
        const oauth = yield* store
        const issued = code(Ids.SessionId.make(unique("s")))
        yield* oauth.insertCode(issued)
        const outcomes = yield* Effect.all(
          Array.from({ length: 16 }, () => oauth.consumeCode(issued.codeHash, 2_000)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.filter((outcome) => Option.getOrThrow(outcome).first).length, 1)
      })))

    it.effect("a refresh token rotates once (concurrently too); the rotated record keeps its time and seal", () =>
      Effect.scoped(Effect.gen(function*() {
        const oauth = yield* store
        const token = refresh(Ids.SessionId.make(unique("s")))
        yield* oauth.insertRefresh(token)
        assert.deepStrictEqual(Option.getOrThrow(yield* oauth.getRefresh(token.tokenHash)), token)
        const wins = yield* Effect.all(
          Array.from({ length: 16 }, (_, i) => oauth.rotateRefresh(token.tokenHash, `seal-${i}`, 5_000)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(wins.filter((won) => won).length, 1)
        const rotated = Option.getOrThrow(yield* oauth.getRefresh(token.tokenHash))
        assert.strictEqual(rotated.rotatedAt, 5_000)
        assert.strictEqual(rotated.successorSeal, `seal-${wins.indexOf(true)}`)
        assert.isFalse(yield* oauth.rotateRefresh(token.tokenHash, "late", 6_000))
        yield* oauth.removeRefresh(token.tokenHash)
        assert.isTrue(Option.isNone(yield* oauth.getRefresh(token.tokenHash)))
        assert.isFalse(yield* oauth.rotateRefresh(token.tokenHash, "gone", 7_000))
      })))
  })
}
