// The conformance suite against SQLite: a real database file in a temp dir, fresh for each test.
import { sqliteStores } from "./helpers/sqlite.ts"
import { storeConformance } from "./helpers/StoreConformance.ts"

storeConformance("SQLite", sqliteStores)
