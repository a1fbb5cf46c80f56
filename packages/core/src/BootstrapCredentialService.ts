/**
 * Pairing grants: one-time credentials a person types, scans or opens as a link, exchanged for a
 * session. The credential is 16 Crockford base32 characters (80 bits); only its SHA-256 is stored.
 *
 * `UnknownCredential` stands both for "never existed" and "already used", so a caller cannot
 * learn which codes were once valid. `inspect` reads a grant without using it (check scopes first;
 * a mismatch must not burn the grant); `consume` uses it atomically.
 *
 * A grant made by a session (`createdBy`, a pairing link from `POST /api/auth/pairing-links`) lives
 * no longer than that session. Eagerly: the service adds a revocation cascade to
 * `SessionCredentialService`, so revoking the session there revokes its unconsumed grants before the
 * revoke returns. As a backstop, for a revoke made where this cascade does not run (the CLI in
 * another process without this service, another instance, a crash between the two writes):
 * `consume` and `inspect` refuse a grant whose creator is no longer a live session (and mark it
 * revoked), and `list` leaves such grants out (and marks them revoked).
 */
import { Clock, Context, Duration, Effect, Layer, Option, PubSub, Redacted, Schema, Stream } from "effect"
import * as ClientMetadata from "./ClientMetadata.ts"
import * as Crockford from "./Crockford.ts"
import { InvalidRequest, type StoreError } from "./Errors.ts"
import * as GrantStore from "./GrantStore.ts"
import { sha256Hex } from "./Hashing.ts"
import { type GrantId, isSubject, newGrantId, type SessionId, subjectProblem } from "./Ids.ts"
import * as Scopes from "./Scopes.ts"
import * as Sessions from "./SessionCredentialService.ts"

export class UnknownCredential extends Schema.TaggedError<UnknownCredential>()("UnknownCredential", {}) {
  override get message(): string {
    return "This pairing code is not valid. It may have been used already."
  }
}

export class ExpiredCredential extends Schema.TaggedError<ExpiredCredential>()("ExpiredCredential", {}) {
  override get message(): string {
    return "This pairing code has expired. Ask for a new one."
  }
}

export class RevokedCredential extends Schema.TaggedError<RevokedCredential>()("RevokedCredential", {}) {
  override get message(): string {
    return "This pairing code has been revoked."
  }
}

export class ProofKeyMismatch extends Schema.TaggedError<ProofKeyMismatch>()("ProofKeyMismatch", {}) {
  override get message(): string {
    return "This pairing code is bound to another device key."
  }
}

export type CredentialError = UnknownCredential | ExpiredCredential | RevokedCredential

/** A grant as callers see it: everything but the credential hash. */
export type GrantInfo = Omit<GrantStore.Grant, "credentialHash">

export interface IssueOptions {
  readonly subject: string
  readonly scopes: ReadonlyArray<string>
  /** Default 5 minutes. */
  readonly ttl?: Duration.Input | undefined
  readonly label?: string | undefined
  /** Default 1. */
  readonly uses?: number | undefined
  readonly proofKeyThumbprint?: string | undefined
  /** The session minting this grant; revoking it revokes the grant. `undefined`: no session did. */
  readonly createdBy?: SessionId | undefined
}

export interface IssuedCredential {
  readonly id: GrantId
  /** The canonical 16-character code; show it with `Crockford.format`. */
  readonly credential: Redacted.Redacted<string>
  readonly expiresAt: number
  readonly grant: GrantInfo
}

export type GrantChange =
  | { readonly _tag: "Upserted"; readonly grant: GrantInfo }
  | { readonly _tag: "Removed"; readonly id: GrantId }

export interface BootstrapCredentialServiceShape {
  readonly issue: (options: IssueOptions) => Effect.Effect<IssuedCredential, InvalidRequest | StoreError>
  readonly inspect: (credential: Redacted.Redacted<string>) => Effect.Effect<GrantInfo, CredentialError | StoreError>
  readonly consume: (
    credential: Redacted.Redacted<string>,
    options?: { readonly proofKeyThumbprint?: string | undefined }
  ) => Effect.Effect<GrantInfo, CredentialError | ProofKeyMismatch | StoreError>
  /** Grants that can still be used; never credentials. */
  readonly list: Effect.Effect<ReadonlyArray<GrantInfo>, StoreError>
  readonly revoke: (id: GrantId) => Effect.Effect<boolean, StoreError>
  readonly changes: Stream.Stream<GrantChange>
  /**
   * Seeds the desktop bootstrap credential (from configuration) as a grant. Its TTL does not run
   * until `armDesktopGrants`, so a slow start does not eat the desktop shell's window.
   */
  readonly seedDesktopCredential: (
    credential: Redacted.Redacted<string>,
    options: Omit<IssueOptions, "proofKeyThumbprint" | "createdBy">
  ) => Effect.Effect<GrantInfo, InvalidRequest | StoreError>
  /** Starts the TTL of seeded desktop grants; the HTTP server calls it once it listens. */
  readonly armDesktopGrants: Effect.Effect<void, StoreError>
}

export class BootstrapCredentialService extends Context.Service<
  BootstrapCredentialService,
  BootstrapCredentialServiceShape
>()("@gatehouse-auth/core/BootstrapCredentialService") {}

export const defaultTtl = Duration.minutes(5)
const maxTtl = Duration.days(30)
const maxUses = 10_000

const info = ({ credentialHash: _, ...grant }: GrantStore.Grant): GrantInfo => grant

/** The stored form of a credential, or `undefined` if the input cannot be a credential. */
export const hashCredential = (credential: Redacted.Redacted<string>): string | undefined => {
  const code = Crockford.normalize(Redacted.value(credential))
  return code === undefined ? undefined : sha256Hex(code)
}

const isLabel = Schema.is(Schema.UndefinedOr(ClientMetadata.Label))

/**
 * The pairing URL of a code: `<base>/pair#token=<code>`. The code rides in the fragment, which a
 * browser never sends to a server or puts in a `Referer`; the `/pair` page reads it from there.
 */
export const pairingUrl = (baseUrl: string, code: Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.make(`${baseUrl.replace(/\/+$/, "")}/pair#token=${Redacted.value(code)}`, { label: "pairing-url" })

const validate = (options: IssueOptions): Effect.Effect<{ ttlMillis: number; uses: number }, InvalidRequest> => {
  const ttl = Duration.fromInput(options.ttl ?? defaultTtl)
  const ttlMillis = Option.isSome(ttl) ? Duration.toMillis(ttl.value) : Number.NaN
  const uses = options.uses ?? 1
  const problem = !(ttlMillis > 0 && ttlMillis <= Duration.toMillis(maxTtl))
    ? "ttl must be positive and at most 30 days"
    : !(Number.isInteger(uses) && uses >= 1 && uses <= maxUses)
    ? `uses must be a whole number from 1 to ${maxUses}`
    : !isSubject(options.subject)
    ? subjectProblem
    : !Scopes.isScopes(options.scopes)
    ? Scopes.problem
    : !isLabel(options.label)
    ? `label must be at most ${ClientMetadata.limits.label} characters of plain text (no control or bidirectional characters)`
    : undefined
  return problem === undefined
    ? Effect.succeed({ ttlMillis, uses })
    : Effect.fail(new InvalidRequest({ message: problem }))
}

export const make = Effect.gen(function*() {
  const store = yield* GrantStore.GrantStore
  const sessions = yield* Sessions.SessionCredentialService
  const changes = yield* PubSub.unbounded<GrantChange>()
  const publish = (change: GrantChange) => PubSub.publish(changes, change)

  /** Revokes the grants `sids` made and tells `changes`; what a session's revoke does to its links. */
  const revokeCreatedBy = (sids: ReadonlyArray<SessionId>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => store.revokeCreatedBy(sids, now)).pipe(
      Effect.flatMap((ids) => Effect.forEach(ids, (id) => publish({ _tag: "Removed", id }), { discard: true }))
    )

  yield* sessions.addRevocationCascade(revokeCreatedBy)

  /**
   * The backstop: whether `grant` may still be used as far as its creator goes. A grant no session
   * made always may; one whose creator is gone (revoked anywhere, or expired) is revoked now.
   */
  const creatorLive = (grant: GrantStore.Grant) =>
    grant.createdBy === undefined
      ? Effect.succeed(true)
      : Effect.flatMap(sessions.get(grant.createdBy), (found) =>
        Option.isSome(found)
          ? Effect.succeed(true)
          : Effect.as(revokeCreatedBy([grant.createdBy!]), false))

  const insert = Effect.fnUntraced(function*(
    credentialHash: string,
    kind: GrantStore.Grant["kind"],
    options: IssueOptions
  ) {
    const { ttlMillis, uses } = yield* validate(options)
    const now = yield* Clock.currentTimeMillis
    const grant: GrantStore.Grant = {
      id: newGrantId(),
      credentialHash,
      kind,
      subject: options.subject,
      scopes: [...new Set(options.scopes)],
      label: options.label,
      uses,
      usesRemaining: uses,
      createdAt: now,
      ttlMillis,
      expiresAt: kind === "desktop" ? undefined : now + ttlMillis,
      revokedAt: undefined,
      proofKeyThumbprint: options.proofKeyThumbprint,
      createdBy: options.createdBy
    }
    yield* store.insert(grant)
    yield* publish({ _tag: "Upserted", grant: info(grant) })
    return grant
  })

  const issue = Effect.fn("BootstrapCredentialService.issue")(function*(options: IssueOptions) {
    const code = Crockford.generate()
    const grant = yield* insert(sha256Hex(code), "pairing", options)
    return {
      id: grant.id,
      credential: Redacted.make(code, { label: "pairing-credential" }),
      expiresAt: grant.expiresAt!,
      grant: info(grant)
    }
  })

  const inspect = Effect.fn("BootstrapCredentialService.inspect")(function*(credential: Redacted.Redacted<string>) {
    const hash = hashCredential(credential)
    if (hash === undefined) return yield* new UnknownCredential()
    const found = yield* store.findByHash(hash)
    if (Option.isNone(found) || found.value.usesRemaining <= 0) return yield* new UnknownCredential()
    const grant = found.value
    if (GrantStore.isExpired(grant, yield* Clock.currentTimeMillis)) {
      yield* store.remove(grant.id)
      yield* publish({ _tag: "Removed", id: grant.id })
      return yield* new ExpiredCredential()
    }
    if (grant.revokedAt !== undefined || !(yield* creatorLive(grant))) return yield* new RevokedCredential()
    return info(grant)
  })

  const consume = Effect.fn("BootstrapCredentialService.consume")(function*(
    credential: Redacted.Redacted<string>,
    options?: { readonly proofKeyThumbprint?: string | undefined }
  ) {
    const hash = hashCredential(credential)
    if (hash === undefined) return yield* new UnknownCredential()
    const outcome = yield* store.consume(hash, yield* Clock.currentTimeMillis, options?.proofKeyThumbprint)
    switch (outcome._tag) {
      case "Unknown":
        return yield* new UnknownCredential()
      case "Expired":
        yield* publish({ _tag: "Removed", id: outcome.id })
        return yield* new ExpiredCredential()
      case "Revoked":
        return yield* new RevokedCredential()
      case "ProofKeyMismatch":
        return yield* new ProofKeyMismatch()
      case "Consumed":
        // Checked after the atomic use, not before: a creator revoked at any moment before this
        // read is seen, so no exchange that finishes after a revoke is let through. The use it
        // took is lost with the grant, which is revoked now.
        if (!(yield* creatorLive(outcome.grant))) {
          if (outcome.grant.usesRemaining === 0) yield* publish({ _tag: "Removed", id: outcome.grant.id })
          return yield* new RevokedCredential()
        }
        yield* publish(
          outcome.grant.usesRemaining === 0
            ? { _tag: "Removed", id: outcome.grant.id }
            : { _tag: "Upserted", grant: info(outcome.grant) }
        )
        return info(outcome.grant)
    }
  })

  /** Usable grants, without those whose creator is no longer live (which are revoked on the way). */
  const list = Effect.gen(function*() {
    const active = yield* store.listActive(yield* Clock.currentTimeMillis)
    const creators = [...new Set(active.flatMap((grant) => grant.createdBy ?? []))]
    if (creators.length === 0) return active.map(info)
    const live = yield* sessions.liveAmong(creators)
    const gone = creators.filter((sid) => !live.has(sid))
    if (gone.length > 0) yield* revokeCreatedBy(gone)
    return active.filter((grant) => grant.createdBy === undefined || live.has(grant.createdBy)).map(info)
  })

  const revoke = Effect.fn("BootstrapCredentialService.revoke")(function*(id: GrantId) {
    const revoked = yield* store.revoke(id, yield* Clock.currentTimeMillis)
    if (revoked) yield* publish({ _tag: "Removed", id })
    return revoked
  })

  const seedDesktopCredential = Effect.fn("BootstrapCredentialService.seedDesktopCredential")(function*(
    credential: Redacted.Redacted<string>,
    options: Omit<IssueOptions, "proofKeyThumbprint" | "createdBy">
  ) {
    const hash = hashCredential(credential)
    if (hash === undefined) {
      return yield* new InvalidRequest({
        message: "The desktop bootstrap credential must be 16 to 64 Crockford base32 characters"
      })
    }
    return info(yield* insert(hash, "desktop", options))
  })

  const armDesktopGrants = Effect.flatMap(Clock.currentTimeMillis, (now) => store.arm("desktop", now)).pipe(
    Effect.flatMap((armed) => Effect.forEach(armed, (grant) => publish({ _tag: "Upserted", grant: info(grant) }))),
    Effect.asVoid
  )

  return BootstrapCredentialService.of({
    issue,
    inspect,
    consume,
    list,
    revoke,
    changes: Stream.fromPubSub(changes),
    seedDesktopCredential,
    armDesktopGrants
  })
})

/**
 * The service over whatever `GrantStore` and `SessionCredentialService` are provided; it adds its
 * revocation cascade to that `SessionCredentialService` for the layer's lifetime.
 */
export const layer = Layer.effect(BootstrapCredentialService, make)

/** The service with grants in memory, over the `SessionCredentialService` provided. */
export const layerMemory = layer.pipe(Layer.provide(GrantStore.layerMemory))
