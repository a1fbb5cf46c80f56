/**
 * `@gatehouse-auth/testing`: the store conformance suite. Run it against your own `GrantStore`,
 * `SessionStore` or `KeyringStore` to check that it keeps every rule the Gatehouse stores keep.
 * (`@gatehouse-auth/testing/support` holds helpers for this repository's own tests.)
 */

/** The conformance suite: `run` for all three stores, or `grantStore` / `sessionStore` / `keyringStore` alone. */
export * as StoreConformance from "./StoreConformance.ts"

/** The `OAuthStore` conformance suite (grants, codes consumed once, refresh tokens rotated once). */
export * as OAuthStoreConformance from "./OAuthStoreConformance.ts"

/** The `DpopReplayStore` conformance suite (DPoP proof ids recorded once per key, until they expire). */
export * as DpopReplayStoreConformance from "./DpopReplayStoreConformance.ts"
