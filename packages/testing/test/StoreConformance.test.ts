// The single-store entry points, each given a layer of that one store only (the core's memory
// stores): each registers its own group, and needs nothing else. `run`, all three at once, is run
// by the core (memory) and by @gatehouse-auth/sql (SQLite, PostgreSQL).
import { GrantStore, KeyringStore, ServerSecretStore, SessionStore } from "@gatehouse-auth/core"
import { StoreConformance } from "@gatehouse-auth/testing"
import { Layer } from "effect"

StoreConformance.grantStore("GrantStore alone", () => GrantStore.layerMemory)
StoreConformance.sessionStore("SessionStore alone", () => SessionStore.layerMemory)
StoreConformance.keyringStore(
  "KeyringStore alone",
  () =>
    KeyringStore.layerSecretStore.pipe(
      Layer.provide(ServerSecretStore.layerMemory())
    )
)
