// `npm run bench`: every benchmark, each printing a table and writing bench/results/<name>.json,
// then one table of every ratio against its target, bench/results/summary.md and ratios.svg.
import * as Os from "node:os"
import * as AccessToken from "./accessToken.ts"
import * as AuthenticatedRoute from "./authenticatedRoute.ts"
import * as ClientSize from "./clientSize.ts"
import * as ConsumeRace from "./consumeRace.ts"
import * as Dpop from "./dpop.ts"
import * as DpopRoute from "./dpopRoute.ts"
import * as GuestLookup from "./guestLookup.ts"
import * as McpResolve from "./mcpResolve.ts"
import * as Peer from "./peer.ts"
import * as SqlVerify from "./sqlVerify.ts"
import * as Summary from "./summary.ts"
import * as Verify from "./verify.ts"

const started = new Date()
const loadAverage = Os.loadavg()

await Verify.run()
await SqlVerify.run()
await GuestLookup.run()
await McpResolve.run()
await ConsumeRace.run()
await AuthenticatedRoute.run()
await Peer.run()
await AccessToken.run()
await Dpop.run()
await DpopRoute.run()
await ClientSize.run()
Summary.summarize(started, loadAverage)
