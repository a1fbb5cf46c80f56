import { ServerSecretStore } from "@gatehouse/core"
import { tempDirectory } from "@gatehouse/testing/support"
import { Effect, Layer } from "effect"
import * as Path from "node:path"
import * as SqlStores from "../../src/SqlStores.ts"

/** A path for a database file in a fresh temp directory (the file itself does not exist yet). */
export const tempDatabaseFile = Effect.map(tempDirectory, (directory) => Path.join(directory, "gatehouse.db"))

/** The SQL stores over a new SQLite file in a temp dir, with a memory secret store. */
export const sqliteStores = () =>
  Layer.unwrap(Effect.map(tempDatabaseFile, (filename) => SqlStores.layerSqlite({ filename }))).pipe(
    Layer.provide(ServerSecretStore.layerMemory())
  )
