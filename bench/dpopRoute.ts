/**
 * A DPoP-bound request against a bearer request on the same route, over HTTP on loopback, in one
 * run, on ONE server over SQLite stores (what `gatehouse serve` runs by default):
 * - `bound`: `Authorization: DPoP <session token>` with a fresh ES256 proof per request (its own
 *   `jti`, the server nonce, `ath`), so each request verifies the proof, the token and the
 *   binding, then records the `jti` in the SQLite replay store;
 * - `bearer`: the same route with an unbound bearer session token.
 * Target >= 0.5x. The proofs are signed before the rounds start (a client signs while it waits
 * for the network), so the client's signing is not charged to the bound candidate; both
 * candidates run their keep-alive requests from this process, 16 at a time.
 */
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import * as BootstrapCredentialService from "../packages/core/src/BootstrapCredentialService.ts"
import * as DpopVerifier from "../packages/core/src/DpopVerifier.ts"
import * as ServerAuth from "../packages/core/src/ServerAuth.ts"
import * as ServerSecretStore from "../packages/core/src/ServerSecretStore.ts"
import * as SessionCredentialService from "../packages/core/src/SessionCredentialService.ts"
import * as SigningKeyring from "../packages/core/src/SigningKeyring.ts"
import { HttpAuth, HttpAuthLayer } from "../packages/http/src/index.ts"
import { SqlStores } from "../packages/sql/src/index.ts"
import { compare, ratio, report, smoke } from "./harness.ts"
import { listener, policy } from "./loopback.ts"

const applicationScopes = ["read:hello"]
const concurrency = 16
const path = "/bench/hello"

const Routes = HttpRouter.use(Effect.fnUntraced(function*(router) {
  const auth = yield* HttpAuth.HttpAuth
  yield* router.add("GET", path, auth.requireScopes(["read:hello"])(Effect.succeed(HttpServerResponse.jsonUnsafe({}))))
}))

const serverLayer = (dir: string) => {
  const stores = BootstrapCredentialService.layer.pipe(
    Layer.provideMerge(SessionCredentialService.layer()),
    Layer.provideMerge(DpopVerifier.layer()),
    Layer.provideMerge(SigningKeyring.layerFromStore()),
    Layer.provideMerge(SqlStores.layerSqlite({ filename: Path.join(dir, "gatehouse.db") })),
    Layer.provideMerge(ServerSecretStore.layerMemory()),
    Layer.orDie
  )
  return Routes.pipe(
    HttpAuthLayer.layer({ applicationScopes, disableListenLog: true, rateLimit: { capacity: 1_000_000 } }),
    Layer.provideMerge(ServerAuth.layer({ applicationScopes }).pipe(Layer.provideMerge(stores))),
    Layer.provideMerge(policy),
    Layer.provideMerge(listener)
  )
}

/** `n` GET requests, `concurrency` at a time, each with `headers(i)`; fails on any non-200. */
const load = (agent: Http.Agent, port: number, headers: (i: number) => Record<string, string>) => (n: number) =>
  new Promise<void>((resolve, reject) => {
    let started = 0
    let finished = 0
    let failed = false
    const next = () => {
      if (failed) return
      if (finished === n) return resolve()
      if (started >= n) return
      const i = started++
      const request = Http.request(
        { host: "127.0.0.1", port, path, agent, headers: { host: `127.0.0.1:${port}`, ...headers(i) } },
        (response) => {
          response.resume()
          response.on("end", () => {
            if (response.statusCode !== 200) {
              failed = true
              return reject(new Error(`${path}: ${response.statusCode}`))
            }
            finished++
            next()
          })
        }
      )
      request.on("error", (error) => {
        failed = true
        reject(error)
      })
      request.end()
    }
    for (let i = 0; i < Math.min(concurrency, n); i++) next()
  })

export const run = async (): Promise<void> => {
  const scope = Effect.runSync(Scope.make())
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "gatehouse-bench-dpop-"))
  const agent = new Http.Agent({ keepAlive: true, maxSockets: concurrency })
  try {
    const context = await Effect.runPromise(Layer.buildWithScope(serverLayer(dir), scope))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "UnixPathAddress" ? 0 : address.port
    const sessions = Context.get(context, SessionCredentialService.SessionCredentialService)
    const verifier = Context.get(context, DpopVerifier.DpopVerifier)
    const { privateKey, publicKey } = Crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
    const jwk = publicKey.export({ format: "jwk" })
    const jkt = Crypto.createHash("sha256")
      .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
      .digest("base64url")
    const issue = (bound: boolean) =>
      Effect.runPromise(sessions.issue({
        subject: "owner",
        scopes: applicationScopes,
        method: "pairing",
        transport: "bearer",
        ...(bound ? { jkt } : {})
      })).then(({ token }) => Redacted.value(token))
    const bearerToken = await issue(false)
    const boundToken = await issue(true)

    const nonce = await Effect.runPromise(verifier.nonce)
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
    const header = encode({ typ: "dpop+jwt", alg: "ES256", jwk })
    const ath = Crypto.createHash("sha256").update(boundToken).digest("base64url")
    const htu = `http://127.0.0.1:${port}${path}`
    const iat = Math.floor(Date.now() / 1000)
    // Enough for calibration and every round at a few thousand requests a second.
    const proofs = Array.from({ length: smoke ? 1_000 : 40_000 }, (_, i) => {
      const input = `${header}.${
        encode({ jti: `bench-${i}-${Crypto.randomUUID()}`, htm: "GET", htu, iat, nonce, ath })
      }`
      const signature = Crypto.sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" })
      return `${input}.${signature.toString("base64url")}`
    })
    let nextProof = 0
    const results = await compare([
      {
        name: "bound (DPoP proof + replay insert)",
        run: load(agent, port, () => {
          if (nextProof >= proofs.length) throw new Error("out of proofs: raise the pool")
          return { authorization: `DPoP ${boundToken}`, dpop: proofs[nextProof++]! }
        })
      },
      { name: "bearer", run: load(agent, port, () => ({ authorization: `Bearer ${bearerToken}` })) }
    ], { collectGarbage: false, rounds: smoke ? 2 : 5, roundMillis: smoke ? 40 : 250 })
    report("dpopRoute", results, [
      ratio(results, "bound request / bearer request (SQLite)", "bound (DPoP proof + replay insert)", "bearer", 0.5)
    ], { proofsUsed: nextProof })
  } finally {
    agent.destroy()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}
