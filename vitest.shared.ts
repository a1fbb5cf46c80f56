// In the workspace, `@gatehouse-auth/*` resolve to their TypeScript sources through the
// `@gatehouse-auth/source` export condition (an installed package resolves to its build). Every
// test project adds the condition to Vite's server-side defaults.
export const sourceConditions = {
  ssr: { resolve: { conditions: ["@gatehouse-auth/source", "module", "node", "development|production"] } }
}
