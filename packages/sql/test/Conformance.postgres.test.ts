// The conformance suite against PostgreSQL: a fresh schema for each test.
import { ServerSecretStore } from "@gatehouse/core"
import { Effect, Layer, Redacted } from "effect"
import * as SqlStores from "../src/SqlStores.ts"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "./helpers/postgres.ts"
import { storeConformance } from "./helpers/StoreConformance.ts"

/** The SQL stores over a new PostgreSQL schema, with a memory secret store. */
const postgresStores = () =>
  Layer.unwrap(Effect.map(freshSchemaUrl, (url) => SqlStores.layerPg({ url: Redacted.make(url) }))).pipe(
    Layer.provide(ServerSecretStore.layerMemory())
  )

requirePostgresInCi()
storeConformance("PostgreSQL", postgresStores, { skip: unavailable })
