/**
 * The helpers the Gatehouse repository's own tests share: free ports and a TCP proxy, temporary
 * directories, a raw HTTP client, exits in one word. Not a stable API (it changes with the tests);
 * the PostgreSQL helpers are in `@gatehouse-auth/testing/support/postgres`, which probes the database
 * when imported.
 */
export * from "./arbitraries.ts"
export * from "./exits.ts"
export * from "./files.ts"
export * from "./http.ts"
export * from "./network.ts"
export * from "./raw.ts"
export * from "./recordingFileSystem.ts"
