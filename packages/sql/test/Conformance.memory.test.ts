// The conformance suite against the core's memory layers: the reference behaviour.
import { GrantStore, KeyringStore, ServerSecretStore, SessionStore, SigningKeyring } from "@gatehouse/core"
import { Layer } from "effect"
import { storeConformance } from "../../testing/src/StoreConformance.ts"

storeConformance("memory", () =>
  Layer.mergeAll(
    Layer.effect(GrantStore.GrantStore, GrantStore.makeMemory),
    Layer.effect(SessionStore.SessionStore, SessionStore.makeMemory),
    Layer.effect(KeyringStore.KeyringStore, SigningKeyring.makeSecretStoreBackend).pipe(
      Layer.provide(ServerSecretStore.layerMemory())
    )
  ))
