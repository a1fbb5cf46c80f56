// `npm run bench`: every benchmark, each printing a table and writing bench/results/<name>.json.
import * as AccessToken from "./accessToken.ts"
import * as AuthenticatedRoute from "./authenticatedRoute.ts"
import * as ClientSize from "./clientSize.ts"
import * as ConsumeRace from "./consumeRace.ts"
import * as GuestLookup from "./guestLookup.ts"
import * as McpResolve from "./mcpResolve.ts"
import * as SqlVerify from "./sqlVerify.ts"
import * as Verify from "./verify.ts"

await Verify.run()
await SqlVerify.run()
await GuestLookup.run()
await McpResolve.run()
await ConsumeRace.run()
await AuthenticatedRoute.run()
await AccessToken.run()
await ClientSize.run()
