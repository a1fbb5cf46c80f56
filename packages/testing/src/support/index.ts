export * from "./network.ts"
