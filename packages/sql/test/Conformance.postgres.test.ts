// The conformance suite against PostgreSQL: a fresh schema for each test.
import { postgresStores, requirePostgresInCi, unavailable } from "./helpers/postgres.ts"
import { storeConformance } from "./helpers/StoreConformance.ts"

requirePostgresInCi()
storeConformance("PostgreSQL", postgresStores, { skip: unavailable })
