// The conformance suite against PostgreSQL: a fresh schema for each test.
import { ServerSecretStore } from "@gatehouse-auth/core"
import { StoreConformance } from "@gatehouse-auth/testing"
import { freshSchemaUrl, requirePostgresInCi, unavailable } from "@gatehouse-auth/testing/support/postgres"
import { Effect, Layer, Redacted } from "effect"
import * as SqlStores from "../src/SqlStores.ts"

/** The SQL stores over a new PostgreSQL schema, with a memory secret store. */
const postgresStores = () =>
  Layer.unwrap(Effect.map(freshSchemaUrl, (url) => SqlStores.layerPg({ url: Redacted.make(url) }))).pipe(
    Layer.provide(ServerSecretStore.layerMemory())
  )

requirePostgresInCi()
StoreConformance.run("PostgreSQL", postgresStores, { skip: unavailable })
