// The conformance suite against SQLite: a real database file in a temp dir, fresh for each test.
import { storeConformance } from "../../testing/src/StoreConformance.ts"
import { sqliteStores } from "./helpers/sqlite.ts"

storeConformance("SQLite", sqliteStores)
