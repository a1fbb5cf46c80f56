// The conformance suite against SQLite: a real database file in a temp dir, fresh for each test.
import { StoreConformance } from "@gatehouse/testing"
import { sqliteStores } from "./helpers/sqlite.ts"

StoreConformance.run("SQLite", sqliteStores)
