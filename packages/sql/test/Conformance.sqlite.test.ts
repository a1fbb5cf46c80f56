// The conformance suite against SQLite: a real database file in a temp dir, fresh for each test.
// This file is the example of docs/storage.md, "Writing your own store": keep the two alike.
import { NodeFileSystem } from "@effect/platform-node"
import { ServerSecretStore } from "@gatehouse-auth/core"
import { SqlStores } from "@gatehouse-auth/sql"
import { StoreConformance } from "@gatehouse-auth/testing"
import { Effect, FileSystem, Layer } from "effect"
import * as Path from "node:path"

// Called once per test: a fresh, empty set of stores (here this package's, over a new SQLite file in
// a temp directory that is removed when the test ends).
const makeStores = () =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped()
    return SqlStores.layerSqlite({ filename: Path.join(directory, "gatehouse.db") })
  })).pipe(
    // The keyring store encrypts the signing keys with a key from the secret store.
    Layer.provide([ServerSecretStore.layerMemory(), NodeFileSystem.layer])
  )

StoreConformance.run("SQLite", makeStores)
