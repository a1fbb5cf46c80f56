/** Plain store records for the SQL suites: a grant and a session with fixed, simple fields. */
import { type ClientMetadata, type GrantStore, Ids, type SessionStore } from "@gatehouse-auth/core"

/** Test ids, branded (they pass the id Schema). */
export const sid = (text: string): Ids.SessionId => Ids.SessionId.make(text)
export const gid = (text: string): Ids.GrantId => Ids.GrantId.make(text)

/** A pairing grant `id` whose credential hash is `hash-<id>`, usable `uses` times until t = 1 000 000. */
export const grantRecord = (id: string, uses = 1): GrantStore.Grant => ({
  id: gid(id),
  credentialHash: `hash-${id}`,
  kind: "pairing",
  subject: "owner",
  scopes: ["read:hello"],
  label: undefined,
  uses,
  usesRemaining: uses,
  createdAt: 0,
  ttlMillis: 1_000_000,
  expiresAt: 1_000_000,
  revokedAt: undefined,
  proofKeyThumbprint: undefined,
  createdBy: undefined
})

/** A session `sid` created and last seen at t = 0. */
export const sessionRecord = (id: string, client: ClientMetadata.ClientMetadata = {}): SessionStore.SessionRecord => ({
  sid: sid(id),
  subject: "owner",
  scopes: ["read:hello"],
  method: "pairing",
  transport: "cookie",
  createdAt: 0,
  lastSeenAt: 0,
  client
})
