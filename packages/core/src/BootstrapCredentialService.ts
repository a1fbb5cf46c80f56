/**
 * Pairing grants: one-time credentials a person types, scans or opens as a link, exchanged for a
 * session. The credential is 16 Crockford base32 characters (80 bits); only its SHA-256 is stored.
 *
 * `UnknownCredential` stands both for "never existed" and "already used", so a caller cannot
 * learn which codes were once valid. `inspect` reads a grant without using it (check scopes first;
 * a mismatch must not burn the grant); `consume` uses it atomically.
 */
import { Clock, Context, Duration, Effect, Layer, Option, PubSub, Redacted, Schema, Stream } from "effect"
import * as ClientMetadata from "./ClientMetadata.ts"
import * as Crockford from "./Crockford.ts"
import { InvalidRequest, type StoreError } from "./Errors.ts"
import * as GrantStore from "./GrantStore.ts"
import { sha256Hex } from "./Hashing.ts"
import { type GrantId, isSubject, newGrantId, subjectProblem } from "./Ids.ts"
import * as Scopes from "./Scopes.ts"

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
    options: Omit<IssueOptions, "proofKeyThumbprint">
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
  const changes = yield* PubSub.unbounded<GrantChange>()
  const publish = (change: GrantChange) => PubSub.publish(changes, change)

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
      proofKeyThumbprint: options.proofKeyThumbprint
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
    if (grant.revokedAt !== undefined) return yield* new RevokedCredential()
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
        yield* publish(
          outcome.grant.usesRemaining === 0
            ? { _tag: "Removed", id: outcome.grant.id }
            : { _tag: "Upserted", grant: info(outcome.grant) }
        )
        return info(outcome.grant)
    }
  })

  const list = Effect.flatMap(Clock.currentTimeMillis, (now) => store.listActive(now)).pipe(
    Effect.map((grants) => grants.map(info))
  )

  const revoke = Effect.fn("BootstrapCredentialService.revoke")(function*(id: GrantId) {
    const revoked = yield* store.revoke(id, yield* Clock.currentTimeMillis)
    if (revoked) yield* publish({ _tag: "Removed", id })
    return revoked
  })

  const seedDesktopCredential = Effect.fn("BootstrapCredentialService.seedDesktopCredential")(function*(
    credential: Redacted.Redacted<string>,
    options: Omit<IssueOptions, "proofKeyThumbprint">
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

/** The service over whatever `GrantStore` is provided. */
export const layer = Layer.effect(BootstrapCredentialService, make)

/** The service with grants in memory. */
export const layerMemory = layer.pipe(Layer.provide(GrantStore.layerMemory))
