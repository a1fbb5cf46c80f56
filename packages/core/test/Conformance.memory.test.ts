// The conformance suite against the core's memory layers: the reference behaviour.
import {
  GrantStore,
  GuestStore,
  KeyringStore,
  McpCredentialStore,
  ServerSecretStore,
  SessionStore
} from "@gatehouse-auth/core"
import { StoreConformance } from "@gatehouse-auth/testing"
import { Layer } from "effect"

StoreConformance.run("memory", () =>
  Layer.mergeAll(
    Layer.effect(GrantStore.GrantStore, GrantStore.makeMemory),
    Layer.effect(SessionStore.SessionStore, SessionStore.makeMemory),
    GuestStore.layerMemory(),
    McpCredentialStore.layerMemory,
    KeyringStore.layerSecretStore.pipe(
      Layer.provide(ServerSecretStore.layerMemory())
    )
  ))
