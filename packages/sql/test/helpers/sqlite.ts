import { tempDirectory } from "@gatehouse-auth/testing/support"
import { Effect } from "effect"
import * as Path from "node:path"

/** A path for a database file in a fresh temp directory (the file itself does not exist yet). */
export const tempDatabaseFile = Effect.map(tempDirectory, (directory) => Path.join(directory, "gatehouse.db"))
