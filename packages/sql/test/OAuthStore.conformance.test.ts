// The OAuthStore conformance suite against SQLite (a new file per test) and PostgreSQL (a new
// schema per test).
import { NodeFileSystem } from "@effect/platform-node"
import { ServerSecretStore } from "@gatehouse-auth/core"
import { OAuthStoreConformance } from "@gatehouse-auth/testing"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Effect, FileSystem, Layer, Redacted } from "effect"
import * as Path from "node:path"
import * as SqlStores from "../src/SqlStores.ts"

OAuthStoreConformance.run("SQLite", () =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped()
    return SqlStores.layerSqlite({ filename: Path.join(directory, "gatehouse.db") })
  })).pipe(Layer.provide([ServerSecretStore.layerMemory(), NodeFileSystem.layer])))

requirePostgresInCi()
OAuthStoreConformance.run(
  "PostgreSQL",
  () =>
    Layer.unwrap(Effect.map(freshSchemaUrl, (url) => SqlStores.layerPg({ url: Redacted.make(url) }))).pipe(
      Layer.provide(ServerSecretStore.layerMemory())
    ),
  { skip: unavailable }
)
