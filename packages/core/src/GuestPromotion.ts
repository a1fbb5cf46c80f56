/**
 * The application's hook for guest promotion: when a browser that holds a guest cookie pairs,
 * `GuestSessionService.promote` hands the guest's id and the new session to `merge`, so the
 * application can move the guest's data (drafts, starred items) to the paired identity.
 *
 * Provide it as a Layer; without one, promotion merges nothing and only ends the guest. A `merge`
 * that fails keeps the guest alive (its cookie too): the pairing still succeeds, the failure is
 * logged, and the merge can be tried again later from the browser (the client's `mergeGuest`).
 *
 *   const Promotion = Layer.succeed(GuestPromotion.GuestPromotion, GuestPromotion.GuestPromotion.of({
 *     merge: (guestId, session) => Drafts.moveAll({ from: guestId, to: session.subject })
 *   }))
 */
import { Context, type Effect } from "effect"
import type { GuestId } from "./Ids.ts"
import type { SessionInfo } from "./SessionCredentialService.ts"

export interface GuestPromotionShape {
  /** Merges the guest `guestId` into `session`'s identity. Runs at most once per successful promotion. */
  readonly merge: (guestId: GuestId, session: SessionInfo) => Effect.Effect<void, unknown>
}

export class GuestPromotion extends Context.Service<GuestPromotion, GuestPromotionShape>()(
  "@gatehouse-auth/core/GuestPromotion"
) {}
