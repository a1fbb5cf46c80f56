// The conformance suite against PostgreSQL: a fresh schema for each test.
import { ServerSecretStore } from "@gatehouse/core"
import { Effect, Layer, Redacted } from "effect"
import { storeConformance } from "../../testing/src/StoreConformance.ts"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "../../testing/src/support/postgres.ts"
import * as SqlStores from "../src/SqlStores.ts"

/** The SQL stores over a new PostgreSQL schema, with a memory secret store. */
const postgresStores = () =>
  Layer.unwrap(Effect.map(freshSchemaUrl, (url) => SqlStores.layerPg({ url: Redacted.make(url) }))).pipe(
    Layer.provide(ServerSecretStore.layerMemory())
  )

requirePostgresInCi()
storeConformance("PostgreSQL", postgresStores, { skip: unavailable })
