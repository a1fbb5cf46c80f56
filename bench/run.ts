// `npm run bench`: every benchmark, each printing a table and writing bench/results/<name>.json.
import * as AuthenticatedRoute from "./authenticatedRoute.ts"
import * as Verify from "./verify.ts"

await Verify.run()
await AuthenticatedRoute.run()
