// The OAuthStore conformance suite against the memory store: the reference behaviour.
import { OAuthStore } from "@gatehouse-auth/core"
import { OAuthStoreConformance } from "@gatehouse-auth/testing"

OAuthStoreConformance.run("memory", () => OAuthStore.layerMemory)
