import { ServerSecretStore } from "@gatehouse/core"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as SqlStores from "../../src/SqlStores.ts"

/** A fresh temp directory for the scope, removed when it closes. */
export const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-sql-"))),
  (directory) => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true }))
)

/** A path for a database file in a fresh temp directory (the file itself does not exist yet). */
export const tempDatabaseFile = Effect.map(tempDirectory, (directory) => Path.join(directory, "gatehouse.db"))

/** The SQL stores over a new SQLite file in a temp dir, with a memory secret store. */
export const sqliteStores = () =>
  Layer.unwrap(Effect.map(tempDatabaseFile, (filename) => SqlStores.layerSqlite({ filename }))).pipe(
    Layer.provide(ServerSecretStore.layerMemory())
  )
