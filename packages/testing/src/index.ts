export * as StoreConformance from "./StoreConformance.ts"
